"""The one module that talks to Vault (or OpenBao): verbs of the domain over hvac.

Everything else in the portal calls these functions and sees only the domain
errors below; no hvac or requests exception leaves this module. Each process signs
in with AppRole as its own identity (web or worker, chosen by the values of
`VAULT_ROLE_ID` and `VAULT_SECRET_ID` it is given) or, in development, with a
token; it works in the namespace `VAULT_NAMESPACE` when one is set, keeps one
client per process and signs in again before its token expires; all its calls
share one pool of HTTP connections per process. Every call carries the
`X-Request-Id` header (`correlation_id`, else the log context's request ID),
which Vault's audit log records.

Secrets that pass through here (grant tokens, wrapping tokens, passwords) are
returned to the caller only, never logged, and hidden from `repr`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import hvac
import hvac.exceptions
import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from portal.core.clock import now
from portal.core.errors import DomainError, Gone, ServiceUnavailable
from portal.core.metrics import count_vault_error
from portal.logging import current_context

logger = logging.getLogger(__name__)

# The request ID sent as `X-Request-Id` with every call, so that Vault's audit log
# ties each call to the portal request or task that made it. Unset, the request ID
# of the log context (bound by the web middleware or a task) is sent instead.
correlation_id: ContextVar[str | None] = ContextVar("vault_correlation_id", default=None)

# Sign in again when less than this share of the portal token's lifetime is left.
_RELOGIN_AT_REMAINING = 1 / 3

# Vault's messages (HTTP 400) for a wrapping token, accessor or lease that no longer exists.
_GONE_MESSAGES = ("wrapping token is not valid", "invalid accessor", "invalid lease")
_ERROR_COUNT = re.compile(r"^\d+ errors? occurred:$")


class VaultError(DomainError):
    """Vault refused or failed the call."""

    code = "vault_error"
    status = 502


class VaultUnavailable(VaultError, ServiceUnavailable):
    """Vault is down, sealed or too slow; try again later."""

    code = "vault_unavailable"
    status = 503


class VaultNoAnswer(VaultUnavailable):
    """Vault did not answer (refused the connection, or too slow): whether it received the call is unknown."""


class VaultForbidden(VaultError):
    """Vault does not allow the portal (or the grant token) to do this."""

    code = "vault_forbidden"
    status = 502


class VaultRoleMissing(VaultError):
    """The Vault role does not exist."""

    code = "vault_role_missing"
    status = 409


class VaultAlreadyGone(VaultError, Gone):
    """The token, wrapping token or lease no longer exists (used, expired or revoked)."""

    code = "gone"
    status = 410


@dataclass(frozen=True)
class GrantToken:
    """A per-grant orphan token: use `token` at once and never store it; keep `accessor`."""

    token: str = field(repr=False)
    accessor: str
    expires_at: datetime


@dataclass(frozen=True)
class WrappedCredentials:
    """Credentials wrapped by Vault: `wrapping_token` opens them once, before `expires_at`."""

    wrapping_token: str = field(repr=False)
    wrapping_accessor: str
    creation_path: str
    expires_at: datetime


@dataclass(frozen=True)
class Credentials:
    """A database username and password, and the Vault lease behind them."""

    username: str
    password: str = field(repr=False)
    lease_id: str
    lease_duration: int


@dataclass(frozen=True)
class ConnectionInfo:
    """Where a database role's credentials connect to."""

    host: str
    port: int
    database: str


@contextmanager
def correlate(request_id: str) -> Iterator[None]:
    """Send `request_id` as `X-Request-Id` with every Vault call made inside the block."""
    reset = correlation_id.set(request_id)
    try:
        yield
    finally:
        correlation_id.reset(reset)


def grant_policy_name(mount: str, role: str) -> str:
    """Return the name of the Vault policy that lets a grant token read one role's credentials."""
    return f"latchkey-grant-{mount.strip('/').replace('/', '-')}-{role}"


def creds_path(*, mount: str, role: str) -> str:
    """Return the Vault path that issues credentials of `role` (the wrapping token's creation path)."""
    return f"{mount.strip('/')}/creds/{role}"


# ----- the verbs -----


def check_role(*, mount: str, role: str) -> None:
    """Raise `VaultRoleMissing` unless `role` exists on `mount`: what comes before creating its grant tokens.

    A token for a role that does not exist could never read anything: refuse early. The token role cannot
    tell: Vault creates a token for a policy that does not exist, and its read then fails as "permission
    denied", which would leave an orphan token behind and name the wrong cause. The read is also what keeps a
    stalled Vault from being sent token creations the portal gives up waiting for: Vault would carry them out
    once it resumes, and nothing would know those tokens (tests/faults/test_vault_outage.py).
    """
    _read_role(mount=mount, role=role)


def create_grant_token(
    *, mount: str, role: str, ttl_seconds: int, metadata: dict[str, str], role_checked: bool = False
) -> GrantToken:
    """Create the orphan token of one grant: it may read `role`'s credentials only and dies after `ttl_seconds`.

    The role is checked first (`check_role`), unless the caller has just done so for a batch of grants.
    """
    if ttl_seconds < 1:
        raise ValueError("ttl_seconds must be at least 1.")
    if not all(isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()):
        raise ValueError("Token metadata keys and values must be strings.")
    if not role_checked:
        check_role(mount=mount, role=role)
    body = _portal_call(
        "post",
        f"auth/token/create/{settings.VAULT_GRANT_TOKEN_ROLE}",
        json={
            "policies": [grant_policy_name(mount, role)],
            "no_default_policy": True,
            "ttl": f"{ttl_seconds}s",
            "explicit_max_ttl": f"{ttl_seconds}s",
            "renewable": False,
            "display_name": f"grant-{role}",
            "meta": metadata,
        },
    )
    auth = body["auth"]
    grant = GrantToken(
        token=auth["client_token"],
        accessor=auth["accessor"],
        expires_at=now() + timedelta(seconds=auth["lease_duration"]),
    )
    logger.info("Created grant token %s for %s/%s until %s", grant.accessor, mount, role, grant.expires_at)
    return grant


def read_wrapped_credentials(*, token: str, mount: str, role: str, wrap_ttl_seconds: int) -> WrappedCredentials:
    """Read `role`'s credentials with the grant `token`, wrapped so that only the reveal sees them."""
    if wrap_ttl_seconds < 1:
        raise ValueError("wrap_ttl_seconds must be at least 1.")
    body = _call(
        _client(token=token),
        "get",
        creds_path(mount=mount, role=role),
        wrap_ttl=f"{wrap_ttl_seconds}s",
        missing=VaultRoleMissing(f"The Vault role {role!r} does not exist on mount {mount!r}."),
    )
    wrap_info = body.get("wrap_info")
    if not wrap_info:
        # Never keep or log an unwrapped answer: it holds the password.
        raise VaultError("Vault answered without wrapping the credentials.")
    wrapped = WrappedCredentials(
        wrapping_token=wrap_info["token"],
        wrapping_accessor=wrap_info["accessor"],
        creation_path=wrap_info["creation_path"],
        expires_at=now() + timedelta(seconds=wrap_info["ttl"]),
    )
    logger.info("Read wrapped credentials of %s/%s (wrapping accessor %s)", mount, role, wrapped.wrapping_accessor)
    return wrapped


def unwrap_credentials(*, wrapping_token: str, expected_path: str) -> Credentials:
    """Check that `wrapping_token` wraps credentials from `expected_path`, then unwrap it (once)."""
    looked_up = _portal_call("post", "sys/wrapping/lookup", json={"token": wrapping_token})
    creation_path = looked_up["data"]["creation_path"]
    if creation_path.strip("/") != expected_path.strip("/"):
        # A wrapping token from anywhere else is a substitution: refuse it without opening it.
        raise VaultForbidden(f"The wrapping token was created at {creation_path!r}, not {expected_path!r}.")
    body = _portal_call("post", "sys/wrapping/unwrap", json={"token": wrapping_token})
    data = body.get("data") or {}
    if "username" not in data or "password" not in data:
        raise VaultError(f"The wrapped answer from {creation_path!r} holds no database credentials.")
    return Credentials(
        username=data["username"],
        password=data["password"],
        lease_id=body.get("lease_id", ""),
        lease_duration=int(body.get("lease_duration", 0)),
    )


def revoke_grant_token(*, accessor: str) -> None:
    """Revoke a grant token and its leases by accessor; a token that is already gone counts as revoked."""
    try:
        _portal_call("post", "auth/token/revoke-accessor", json={"accessor": accessor})
    except VaultAlreadyGone:
        logger.info("Grant token %s was already gone", accessor)
        return
    logger.info("Revoked grant token %s", accessor)


def grant_token_alive(*, accessor: str) -> bool:
    """Return whether the grant token with this accessor still exists."""
    try:
        _portal_call("post", "auth/token/lookup-accessor", json={"accessor": accessor})
    except VaultAlreadyGone:
        return False
    return True


def list_roles(*, mount: str) -> set[str]:
    """Return the names of the database roles on `mount`."""
    body = _portal_call("list", f"{mount.strip('/')}/roles", missing=None)
    return set((body.get("data") or {}).get("keys") or [])


def role_exists(*, mount: str, role: str) -> bool:
    """Return whether the database role `role` exists on `mount` (reading it, which both identities may)."""
    try:
        _read_role(mount=mount, role=role)
    except VaultRoleMissing:
        return False
    return True


def capabilities_self(*, paths: list[str]) -> dict[str, list[str]]:
    """Return what the portal's own token may do on each path (`["deny"]` for nothing), as Vault says."""
    body = _portal_call("post", "sys/capabilities-self", json={"paths": paths})
    found = body.get("data") or body
    return {path: sorted(found.get(path) or ["deny"]) for path in paths}


def connection_info(*, mount: str, role: str) -> ConnectionInfo:
    """Return the host, port and database that `role`'s credentials connect to."""
    db_name = _read_role(mount=mount, role=role)["db_name"]
    body = _portal_call(
        "get",
        f"{mount.strip('/')}/config/{db_name}",
        missing=VaultError(f"The database connection {db_name!r} of role {role!r} does not exist."),
    )
    url = (body["data"].get("connection_details") or {}).get("connection_url", "")
    return _parse_connection_url(url, db_name=db_name)


def health(*, timeout_seconds: float = 3) -> dict:
    """Return whether Vault is reachable, whether it is sealed and whether the portal's token is valid."""
    state = {"reachable": False, "sealed": None, "token_valid": False}
    try:
        # sys/health answers 503 when sealed; ask for 200 so the body is read either way. It belongs to the
        # root namespace: Vault refuses it inside one.
        body = _call(
            _client(token="", root_namespace=True),
            "get",
            "sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200",
            timeout=timeout_seconds,
        )
    except VaultError as error:
        state["detail"] = error.detail
        return state
    state["reachable"] = True
    state["sealed"] = bool(body.get("sealed"))
    if state["sealed"]:
        state["detail"] = "Vault is sealed."
        return state
    try:
        _portal_call("get", "auth/token/lookup-self", timeout=timeout_seconds)
    except VaultError as error:
        state["detail"] = error.detail
        return state
    state["token_valid"] = True
    return state


# ----- the portal's own login -----


@dataclass(frozen=True)
class _Login:
    config: tuple
    client: hvac.Client
    relogin_at: float | None  # on _monotonic()'s clock; None for a token that is not the portal's to renew


def _monotonic() -> float:
    """Return the clock that times the portal's login (a seam: tests move it instead of waiting)."""
    return time.monotonic()


_login_lock = threading.Lock()
_current_login: _Login | None = None


def _config() -> tuple:
    """Return the settings the login depends on (read now, so that overriding them takes effect)."""
    return (
        settings.VAULT_ADDR,
        settings.VAULT_NAMESPACE,
        settings.VAULT_TIMEOUT_SECONDS,
        settings.VAULT_ROLE_ID,
        settings.VAULT_SECRET_ID,
        settings.VAULT_SECRET_ID_FILE,
        settings.VAULT_TOKEN,
    )


def _portal_client() -> hvac.Client:
    """Return the process's signed-in client, signing in first if needed (one login at a time)."""
    global _current_login
    config = _config()
    with _login_lock:
        login = _current_login
        if (
            login is None
            or login.config != config
            or (login.relogin_at is not None and _monotonic() >= login.relogin_at)
        ):
            _current_login = login = _sign_in(config)
        return login.client


def _forget_login(client: hvac.Client) -> None:
    global _current_login
    with _login_lock:
        if _current_login is not None and _current_login.client is client:
            _current_login = None


def _secret_id() -> str:
    path = settings.VAULT_SECRET_ID_FILE
    if path:
        # Read the file at every login, so that a rotated secret ID is picked up.
        try:
            return Path(path).read_text().strip()
        except OSError as error:
            raise ImproperlyConfigured(f"VAULT_SECRET_ID_FILE: cannot read {path}: {error.strerror}") from None
    return settings.VAULT_SECRET_ID


def _sign_in(config: tuple) -> _Login:
    if settings.VAULT_ROLE_ID:
        client = _client(token="")
        try:
            body = _call(
                client,
                "post",
                "auth/approle/login",
                json={"role_id": settings.VAULT_ROLE_ID, "secret_id": _secret_id()},
            )
        except (VaultUnavailable, VaultForbidden):
            raise
        except VaultError as error:
            # Vault answers a wrong role or secret ID with 400: for the portal it means "not allowed".
            raise VaultForbidden(f"Vault refused the portal's AppRole login: {error.detail}") from None
        auth = body["auth"]
        client.token = auth["client_token"]
        lifetime = auth.get("lease_duration") or 0
        relogin_at = _monotonic() + lifetime * (1 - _RELOGIN_AT_REMAINING) if lifetime else None
        logger.info("Signed in to Vault with AppRole (token accessor %s)", auth.get("accessor"))
        return _Login(config=config, client=client, relogin_at=relogin_at)
    if settings.VAULT_TOKEN:
        return _Login(config=config, client=_client(token=settings.VAULT_TOKEN), relogin_at=None)
    raise ImproperlyConfigured("Set VAULT_ROLE_ID and VAULT_SECRET_ID (or VAULT_SECRET_ID_FILE), or VAULT_TOKEN.")


_session_lock = threading.Lock()
_session: tuple[tuple[int, str], requests.Session] | None = None


def _http_session() -> requests.Session:
    """Return this process's HTTP session to Vault, whose pooled connections every client reuses.

    A client of its own per grant token opened a new connection per call. The session carries no token (each
    client sends its own per request) and its connection pool is thread-safe. It belongs to one process and one
    `VAULT_ADDR`: a worker forked from a process that used it opens connections of its own, never shares its
    parent's, and another address gets a session (proxy, CA bundle) of its own.
    """
    global _session
    owner = (os.getpid(), settings.VAULT_ADDR)
    with _session_lock:
        if _session is None or _session[0] != owner:
            _session = (owner, _new_http_session())
        return _session[1]


def _new_http_session() -> requests.Session:
    """Return a session to `VAULT_ADDR` with the environment's proxy and CA bundle read once, not at every call.

    requests reads the environment at every call it makes (proxies, `NO_PROXY`, the CA bundle, `~/.netrc`), a
    third of its own cost of a call. The CA bundle is Vault's `VAULT_CACERT` (a file) or `VAULT_CAPATH` (a
    folder), as Vault's CLI has them, else requests' own `REQUESTS_CA_BUNDLE` or `CURL_CA_BUNDLE`, else the
    system's trusted CAs.
    """
    session = requests.Session()
    found = session.merge_environment_settings(settings.VAULT_ADDR, {}, None, None, None)
    session.proxies = found["proxies"]
    session.verify = os.environ.get("VAULT_CACERT") or os.environ.get("VAULT_CAPATH") or found["verify"]
    session.trust_env = False
    return session


def _client(*, token: str, root_namespace: bool = False) -> hvac.Client:
    # An empty token (not None) keeps hvac from picking up VAULT_TOKEN or ~/.vault-token by itself. Every
    # client, the grant token's too, works in the portal's namespace (hvac sends it as X-Vault-Namespace).
    return hvac.Client(
        url=settings.VAULT_ADDR,
        token=token,
        namespace=None if root_namespace else (settings.VAULT_NAMESPACE or None),
        timeout=settings.VAULT_TIMEOUT_SECONDS,
        adapter=hvac.adapters.RawAdapter,
        session=_http_session(),
    )


def _portal_call(method: str, path: str, **kwargs) -> dict:
    """Call Vault with the portal's token, signing in again once if Vault says the token is dead."""
    client = _portal_client()
    try:
        return _call(client, method, path, **kwargs)
    except VaultForbidden:
        if _token_valid(client):
            raise
    logger.info("The portal's Vault token is no longer valid; signing in again")
    _forget_login(client)
    return _call(_portal_client(), method, path, **kwargs)


def _token_valid(client: hvac.Client) -> bool:
    try:
        _call(client, "get", "auth/token/lookup-self")
    except VaultForbidden:
        return False
    return True


def _read_role(*, mount: str, role: str) -> dict:
    body = _portal_call(
        "get",
        f"{mount.strip('/')}/roles/{role}",
        missing=VaultRoleMissing(f"The Vault role {role!r} does not exist on mount {mount!r}."),
    )
    return body["data"]


_NOT_GIVEN = object()


def _call(
    client: hvac.Client,
    method: str,
    path: str,
    *,
    json: dict | None = None,
    wrap_ttl: str | None = None,
    timeout: float | None = None,
    missing=_NOT_GIVEN,
) -> dict:
    """Make one call and return its JSON body; turn every failure into a domain error.

    `missing` is what a 404 means here: an error to raise, or None for "nothing" (an empty body).
    """
    headers = {}
    request_id = correlation_id.get() or current_context().get("request_id")
    if request_id:
        headers["X-Request-Id"] = request_id
    options = {"json": json} if json is not None else {}
    if wrap_ttl:
        options["wrap_ttl"] = wrap_ttl
    if timeout is not None:
        options["timeout"] = timeout
    try:
        response = client.adapter.request(method, f"v1/{path}", headers=headers, **options)
    except requests.RequestException as error:
        count_vault_error("unreachable")
        raise VaultNoAnswer(f"Vault at {settings.VAULT_ADDR} did not answer: {type(error).__name__}.") from None
    except hvac.exceptions.InvalidPath:
        if missing is None:
            return {}
        if missing is _NOT_GIVEN:
            raise VaultError(f"Vault has nothing at {path.split('?')[0]!r}.") from None
        raise missing from None
    except hvac.exceptions.VaultError as error:
        domain_error = _domain_error(error, path)
        # "Already gone" is how revocation ends well, not a failure.
        if not isinstance(domain_error, VaultAlreadyGone):
            count_vault_error(type(domain_error).__name__)
        raise domain_error from None
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        raise VaultError(f"Vault answered {path!r} with something other than JSON.") from None


def _domain_error(error: hvac.exceptions.VaultError, path: str) -> VaultError:
    where = path.split("?")[0]
    message = _message(error)
    detail = f"Vault refused {where!r}: {message}" if message else f"Vault refused {where!r}."
    if isinstance(
        error,
        hvac.exceptions.VaultDown
        | hvac.exceptions.InternalServerError
        | hvac.exceptions.BadGateway
        | hvac.exceptions.RateLimitExceeded
        | hvac.exceptions.VaultNotInitialized,
    ):
        return VaultUnavailable(detail)
    if isinstance(error, hvac.exceptions.Forbidden | hvac.exceptions.Unauthorized):
        return VaultForbidden(detail)
    if isinstance(error, hvac.exceptions.InvalidRequest):
        if any(gone in message.lower() for gone in _GONE_MESSAGES):
            return VaultAlreadyGone(detail)
        if "unknown role" in message.lower() or "role not found" in message.lower():
            return VaultRoleMissing(detail)
    return VaultError(detail)


def _message(error: hvac.exceptions.VaultError) -> str:
    """Return Vault's error text on one line, without the "1 error occurred:" framing."""
    errors = error.errors if isinstance(error.errors, list) else []
    lines = (line.strip().lstrip("*").strip() for text in errors for line in str(text).splitlines())
    return "; ".join(line for line in lines if line and not _ERROR_COUNT.match(line))


def _parse_connection_url(url: str, *, db_name: str) -> ConnectionInfo:
    parts = urlsplit(url)
    try:
        port = parts.port or 5432
    except ValueError:
        port = None
    database = parts.path.lstrip("/")
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname or not database or port is None:
        raise VaultError(f"The connection URL of the database connection {db_name!r} is not a postgresql:// URL.")
    return ConnectionInfo(host=parts.hostname, port=port, database=database)


# ----- the audit anchor: the head of the audit chain, kept outside the database -----

# The one key of the anchor mount (KV version 2, `AUDIT_ANCHOR_MOUNT`); only the worker's identity writes it.
_ANCHOR_KEY = "head"


class VaultConflict(VaultError):
    """A check-and-set write lost: the value changed since it was read."""

    code = "vault_conflict"
    status = 409


@dataclass(frozen=True)
class AuditAnchor:
    """The audit chain's head as last anchored: event ID, its HMAC, how many events up to it, and when."""

    event_id: int
    hmac: str
    count: int
    at: datetime
    version: int  # the KV version, for the next check-and-set write


def audit_anchor_read() -> AuditAnchor | None:
    """Return the anchored head of the audit chain, or None if it was never anchored."""
    body = _portal_call("get", f"{settings.AUDIT_ANCHOR_MOUNT}/data/{_ANCHOR_KEY}", missing=None)
    data = body.get("data") or {}
    values, metadata = data.get("data"), data.get("metadata") or {}
    if not values:
        return None
    try:
        return AuditAnchor(
            event_id=int(values["event_id"]),
            hmac=str(values["hmac"]),
            count=int(values["count"]),
            at=datetime.fromisoformat(values["at"]),
            version=int(metadata["version"]),
        )
    except (KeyError, TypeError, ValueError):
        raise VaultError("The audit anchor in Vault is not an anchor the portal wrote.") from None


def audit_anchor_write(*, event_id: int, hmac: str, count: int, at: datetime, cas: int) -> int:
    """Anchor the audit chain's head if the anchor is still at version `cas` (0: none yet); return the new version."""
    try:
        body = _portal_call(
            "post",
            f"{settings.AUDIT_ANCHOR_MOUNT}/data/{_ANCHOR_KEY}",
            json={
                "options": {"cas": cas},
                "data": {"event_id": event_id, "hmac": hmac, "count": count, "at": at.isoformat()},
            },
        )
    except VaultError as error:
        if "check-and-set" in error.detail:
            raise VaultConflict(f"The audit anchor moved past version {cas} meanwhile.") from None
        raise
    return int(body["data"]["version"])
