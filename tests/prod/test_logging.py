"""Logs are one JSON line per event, carry the request's context, and never hold a secret."""

import io
import json
import logging
import secrets

import pytest
from django.conf import settings
from django.test import Client, override_settings

from portal.logging import JsonFormatter, log_context

# Secrets of every shape the portal handles.
VAULT_SERVICE_TOKEN = "hvs.CAESI" + secrets.token_urlsafe(30).replace("-", "x")
VAULT_BATCH_TOKEN = "hvb.AAAAAQ" + secrets.token_urlsafe(30).replace("-", "x")
LEGACY_TOKEN = "s." + secrets.token_hex(12)
ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJiMDAwMDAwMCJ9." + secrets.token_urlsafe(32)
DB_PASSWORD = "A1a-" + secrets.token_urlsafe(16)


@pytest.fixture
def log_output():
    """Return the text that the configured console handler writes, one JSON line per record."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    assert handlers, "LOGGING must give the root logger a handler with the JSON formatter"
    stream = io.StringIO()
    previous = [h.setStream(stream) for h in handlers]
    yield stream
    for handler, old in zip(handlers, previous, strict=True):
        handler.setStream(old)


def lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_known_secrets_never_reach_a_log_line(log_output):
    logger = logging.getLogger("portal.access.services")
    known = [VAULT_SERVICE_TOKEN, VAULT_BATCH_TOKEN, LEGACY_TOKEN, ID_TOKEN, DB_PASSWORD]

    logger.info("issued with token %s", VAULT_SERVICE_TOKEN)
    logger.info("batch %s and legacy %s", VAULT_BATCH_TOKEN, LEGACY_TOKEN)
    logger.warning("Graph call with Authorization: Bearer %s failed", ID_TOKEN)
    logger.info("creds", extra={"password": DB_PASSWORD, "response": {"data": {"password": DB_PASSWORD}}})
    logger.info("connecting to postgresql://v-alice:%s@shop:5432/shop", DB_PASSWORD)
    logger.info("config %s", {"username": "v-alice", "password": DB_PASSWORD})
    logger.info("login secret_id=%s client_secret: %s", settings.VAULT_SECRET_ID, settings.OIDC_RP_CLIENT_SECRET)
    logging.getLogger("celery.app.trace").error("task failed: %s", f"X-Vault-Token: {VAULT_SERVICE_TOKEN}")
    try:
        raise ValueError(f"unwrap failed for {VAULT_SERVICE_TOKEN}")
    except ValueError:
        logger.exception("reveal failed")

    text = log_output.getvalue()
    for secret in [*known, settings.VAULT_SECRET_ID, settings.OIDC_RP_CLIENT_SECRET]:
        assert secret not in text
    assert len(lines(log_output)) == 9
    assert "[redacted]" in lines(log_output)[0]["message"]
    assert "ValueError" in lines(log_output)[-1]["exception"]


def test_the_redaction_keeps_what_is_not_secret(log_output):
    logging.getLogger("portal.integrations.vault").info(
        "revoked token_accessor=%s for request %s", "Xq1accessor0000", 42, extra={"lease_id": "database/creds/x/1"}
    )

    (line,) = lines(log_output)
    assert line["message"] == "revoked token_accessor=Xq1accessor0000 for request 42"
    assert line["lease_id"] == "database/creds/x/1"


def test_a_log_line_carries_the_bound_request_and_grant(log_output):
    with log_context(request_id="req-1", user_oid="b0000000-0000-4000-8000-000000000001", access_request=7, grant=9):
        logging.getLogger("portal.access").info("grant issued")
    logging.getLogger("portal.access").info("outside")

    inside, outside = lines(log_output)
    assert inside["request_id"] == "req-1"
    assert inside["user_oid"] == "b0000000-0000-4000-8000-000000000001"
    assert inside["access_request"] == "7"
    assert inside["grant"] == "9"
    assert inside["level"] == "INFO" and inside["logger"] == "portal.access"
    assert "request_id" not in outside


@override_settings(ROOT_URLCONF="tests.prod.urls")
def test_secrets_in_a_request_stay_out_of_the_logs_and_the_line_names_the_request(log_output):
    client = Client(raise_request_exception=False)

    client.get(f"/log-secrets?secret={VAULT_SERVICE_TOKEN}", headers={"Authorization": f"Bearer {ID_TOKEN}"})
    failed = client.get(f"/fail?secret={DB_PASSWORD}", headers={"X-Request-Id": "trace-0000-0001"})

    text = log_output.getvalue()
    assert failed.status_code == 500
    for secret in (VAULT_SERVICE_TOKEN, ID_TOKEN, DB_PASSWORD):
        assert secret not in text
    error = next(line for line in lines(log_output) if line["logger"] == "django.request")
    assert error["request_id"] == "trace-0000-0001"
    assert "RuntimeError" in error["exception"]


@pytest.mark.parametrize(
    "text",
    [
        'settings {"client_secret": "%s", "user": "v-alice"}',
        "db.password=%s next",
        "X_VAULT_TOKEN: %s",
        "'wrapping_token' = '%s'",
        "url=https://x.example/?access_token=%s&a=1",
    ],
)
def test_a_secret_named_by_its_key_is_redacted_wherever_the_key_starts(log_output, text):
    logging.getLogger("portal.access").info(text, DB_PASSWORD)

    (line,) = lines(log_output)
    assert DB_PASSWORD not in line["message"]
    assert "[redacted]" in line["message"]
