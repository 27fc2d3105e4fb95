"""The portal's own login: AppRole from settings, one cached client, a fresh login when the token dies."""

import re

import pytest
from django.test import override_settings

from portal.integrations import vault
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
