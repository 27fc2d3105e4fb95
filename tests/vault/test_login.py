"""The portal's own login: AppRole from settings, one cached client, a fresh login when the token dies."""

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from portal.integrations import vault
from portal.logging import log_context
from tests.vault.conftest import MOUNT

pytestmark = pytest.mark.integration


def test_health_reports_a_reachable_unsealed_vault_and_a_valid_token(stack):
    assert vault.health() == {"reachable": True, "sealed": False, "token_valid": True}


def test_the_portal_signs_in_with_a_secret_id_read_from_a_file(stack, tmp_path):
    secret_file = tmp_path / "secret-id"
    secret_file.write_text(stack.portal_secret_id + "\n")

    with override_settings(VAULT_SECRET_ID="", VAULT_SECRET_ID_FILE=str(secret_file)):
        assert vault.health()["token_valid"] is True
        assert "orders-admin" in vault.list_roles(mount=MOUNT)


def test_a_wrong_secret_id_is_reported_as_forbidden(stack):
    with override_settings(VAULT_SECRET_ID="not-the-secret-id"):
        with pytest.raises(vault.VaultForbidden):
            vault.list_roles(mount=MOUNT)
        assert vault.health()["token_valid"] is False


def test_the_portal_signs_in_again_when_its_token_is_revoked(stack):
    vault.list_roles(mount=MOUNT)
    portal_token = vault._portal_client().token
    stack._vault("POST", "auth/token/revoke", {"token": portal_token})

    assert "orders-readwrite" in vault.list_roles(mount=MOUNT)
    assert vault._portal_client().token != portal_token


def test_each_call_carries_the_correlation_id_into_vaults_audit_log(stack):
    request_id = "req-correlation-7f3a9c"

    with vault.correlate(request_id):
        vault.list_roles(mount=MOUNT)
    vault.list_roles(mount=MOUNT)

    audit = (stack.state_dir / "openbao" / "audit.log").read_text()
    assert re.search(rf'"x-request-id":\s*\[\s*"{request_id}"\s*\]', audit, re.IGNORECASE)
    assert vault.correlation_id.get() is None


def test_without_a_correlation_id_the_log_contexts_request_id_is_sent(stack):
    request_id = "req-from-log-context-41b2"

    with log_context(request_id=request_id):
        vault.list_roles(mount=MOUNT)

    audit = (stack.state_dir / "openbao" / "audit.log").read_text()
    assert re.search(rf'"x-request-id":\s*\[\s*"{request_id}"\s*\]', audit, re.IGNORECASE)


def test_threads_share_one_login(stack, caplog):
    caplog.set_level(logging.INFO, logger="portal.integrations.vault")
    vault._forget_login(vault._portal_client())

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: vault.list_roles(mount=MOUNT), range(16)))

    assert all("orders-admin" in roles for roles in results)
    assert sum("Signed in to Vault with AppRole" in record.getMessage() for record in caplog.records) == 1


def test_the_portal_signs_in_again_before_its_token_expires(stack, monkeypatch):
    token = vault._portal_client().token
    lifetime = stack._vault("POST", "auth/token/lookup", {"token": token})["data"]["ttl"]
    later = time.monotonic() + lifetime * 0.9
    monkeypatch.setattr(vault, "_monotonic", lambda: later)

    assert vault._portal_client().token != token
    assert "orders-admin" in vault.list_roles(mount=MOUNT)


def test_the_portal_can_use_a_token_instead_of_approle(stack):
    login = stack._vault(
        "POST", "auth/approle/login", {"role_id": stack.portal_role_id, "secret_id": stack.portal_secret_id}
    )

    with override_settings(VAULT_ROLE_ID="", VAULT_SECRET_ID="", VAULT_TOKEN=login["auth"]["client_token"]):
        assert vault.health()["token_valid"] is True
        assert "orders-admin" in vault.list_roles(mount=MOUNT)


def test_without_approle_or_token_the_module_names_the_missing_settings(stack):
    with override_settings(VAULT_ROLE_ID="", VAULT_SECRET_ID="", VAULT_TOKEN=""):
        with pytest.raises(ImproperlyConfigured, match="VAULT_ROLE_ID"):
            vault.list_roles(mount=MOUNT)
