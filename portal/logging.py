"""Structured logs: one JSON line per event, the context of the request or task, and no secrets.

The web's middleware and the workers bind a context (request ID, user `oid`, access
request, grant) with `log_context`; `ContextFilter` copies it onto every record,
`RedactSecretsFilter` removes secrets from the message and its extra fields, and
`JsonFormatter` writes the record as one line of JSON.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime

CONTEXT_FIELDS = ("request_id", "user_oid", "access_request", "grant")
REDACTED = "[redacted]"

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("latchkey_log_context", default={})  # noqa: B039

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

# Keys whose value is a secret wherever they appear (extra fields, key=value text, JSON).
_SECRET_KEY = (
    r"(?:password|passwd|pwd|secret(?:_id)?|client_secret|token|access_token|refresh_token|id_token"
    r"|wrap(?:ping)?_token|api_key|cookie|authorization|x-vault-token|sessionid|csrftoken)"
)
_SECRET_KEY_RE = re.compile(rf"^[\w.-]*{_SECRET_KEY}[\w.-]*$", re.IGNORECASE)
# Names that contain a secret's key word but hold no secret: a token's accessor is what the audit keeps.
_PUBLIC_KEY_RE = re.compile(r"(?i)accessor|_ttl\b|_role\b|_type\b")
# Each pattern with the text (lower case) that any match of it contains: a record without that text
# skips the pattern, which keeps the filter cheap on the worker's many ordinary records.
_PATTERNS = [
    # Authorization headers, whatever the scheme.
    (
        ("authorization",),
        re.compile(
            r"(?i)\b(authorization|proxy-authorization)(\"?\s*[:=]\s*\"?)"
            r"(?:bearer|basic|token|negotiate)?\s*[^\s\"',}]+"
        ),
        r"\1\2" + REDACTED,
    ),
    # Vault and OpenBao tokens: service, batch and recovery, current and legacy prefixes.
    ((".",), re.compile(r"\b(?:hv[sbr]|[sbr])\.[A-Za-z0-9_-]{20,}"), REDACTED),
    # JSON Web Tokens (ID and access tokens).
    (("eyj",), re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), REDACTED),
    # Passwords in URLs: scheme://user:password@host.
    (("://",), re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@"), r"\1" + REDACTED + "@"),
    # key=value, key: value and "key": "value" where the key names a secret. A key is only tried from
    # where a word starts and read whole (an atomic group): tried from every position of every word,
    # the pattern cost quadratic time.
    (
        (":", "="),
        re.compile(
            rf"""(?i)(?<![\w.-])(["']?(?=[\w.-]*?{_SECRET_KEY})((?>[\w.-]+))["']?\s*[:=]\s*)"""
            r"""("[^"]*"|'[^']*'|[^\s,;&}]+)"""
        ),
        lambda match: match[0] if _is_public_key(match[2]) else match[1] + REDACTED,
    ),
]
# Values shorter than this are not treated as known secrets: they would redact ordinary words.
_MIN_KNOWN_SECRET = 8


def _is_public_key(key: str) -> bool:
    return bool(_PUBLIC_KEY_RE.search(key))


def _is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY_RE.match(key)) and not _is_public_key(key)


def current_context() -> dict[str, str]:
    """Return the log context bound to the current request or task."""
    return dict(_context.get())


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add fields (request_id, user_oid, access_request, grant) to every record logged inside the block."""
    token = _context.set({**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind_log_context(**fields: object) -> None:
    """Add fields to the context of the current request or task until it ends."""
    _context.set({**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None}})


def redact(text: str, known_secrets: tuple[str, ...] = ()) -> str:
    """Return `text` with every secret that the patterns or the known values find replaced."""
    for secret in known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    lowered = text.lower()
    for needles, pattern, replacement in _PATTERNS:
        if any(needle in lowered for needle in needles):
            text = pattern.sub(replacement, text)
    return text


def _known_secrets() -> tuple[str, ...]:
    """Return the secret values of the running configuration, longest first."""
    from django.conf import settings

    if not settings.configured:
        return ()
    values = [
        getattr(settings, "SECRET_KEY", ""),
        getattr(settings, "OIDC_RP_CLIENT_SECRET", ""),
        getattr(settings, "VAULT_SECRET_ID", ""),
        getattr(settings, "VAULT_TOKEN", ""),
        getattr(settings, "CREDENTIAL_ENCRYPTION_KEY", ""),
        getattr(settings, "METRICS_TOKEN", ""),
        getattr(settings, "SLACK_SIGNING_SECRET", ""),
        getattr(settings, "SLACK_BOT_TOKEN", ""),
        getattr(settings, "AUDIT_CHAIN_KEY", ""),
        # Not a setting: `prepare_vault` reads the operator's token from the environment.
        os.environ.get("VAULT_ADMIN_TOKEN", ""),
    ]
    values += list(getattr(settings, "CREDENTIAL_ENCRYPTION_KEYS", []))
    values += [database.get("PASSWORD", "") for database in getattr(settings, "DATABASES", {}).values()]
    return tuple(sorted({v for v in values if len(v) >= _MIN_KNOWN_SECRET}, key=len, reverse=True))


def _redact_value(value: object, known: tuple[str, ...]) -> object:
    if isinstance(value, str):
        return redact(value, known)
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and _is_secret_key(k) else _redact_value(v, known)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_value(v, known) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    # A request's repr holds its query string: keep the method and path only.
    if hasattr(value, "method") and hasattr(value, "path") and hasattr(value, "META"):
        return f"{value.method} {value.path}"
    return redact(str(value), known)


class RedactSecretsFilter(logging.Filter):
    """Replace secrets in a record's message, traceback and extra fields; never drop the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        known = _known_secrets()
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg} {record.args!r}"
        # The arguments are merged into the message so that none of them is kept unredacted.
        record.msg, record.args = redact(message, known), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, known)
        # The traceback's text is redacted above; the live exception (with its locals) goes no further.
        record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info, known)
        for key in set(vars(record)) - _RECORD_ATTRIBUTES:
            value = getattr(record, key)
            setattr(record, key, REDACTED if _is_secret_key(key) else _redact_value(value, known))
        return True


class ContextFilter(logging.Filter):
    """Copy the bound log context, and the running Celery task, onto the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        task = _current_task()
        if task is not None and not hasattr(record, "task_id"):
            record.task_id = task.request.id
            record.task = task.name
        return True


def _current_task():
    try:
        from celery import current_task
    except ImportError:
        return None
    if current_task and getattr(current_task.request, "id", None):
        return current_task
    return None


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON: time, level, logger, message, context and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        event = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            if getattr(record, key, None) is not None:
                event[key] = getattr(record, key)
        for key in sorted(set(vars(record)) - _RECORD_ATTRIBUTES - set(CONTEXT_FIELDS)):
            event[key] = getattr(record, key)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            event["exception"] = record.exc_text
        if record.stack_info:
            event["stack"] = record.stack_info
        return json.dumps(event, default=str, ensure_ascii=False)


def logging_config(*, handlers_stream: str | None = None, root_level: str | None = None, loggers: dict) -> dict:
    """Return a `logging.config.dictConfig` dictionary: one JSON console handler, context and redaction on it."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context", "redact"]}
    if handlers_stream:
        handler["stream"] = handlers_stream
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "portal.logging.ContextFilter"},
            "redact": {"()": "portal.logging.RedactSecretsFilter"},
        },
        "formatters": {"json": {"()": "portal.logging.JsonFormatter"}},
        "handlers": {"console": handler},
        "loggers": loggers,
    }
    if root_level:
        config["root"] = {"handlers": ["console"], "level": root_level}
    return config
