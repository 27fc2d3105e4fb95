"""The module's errors: domain errors with API statuses, never a library exception."""

import pytest
from django.test import override_settings

from portal.core.errors import DomainError, Gone, ServiceUnavailable
from portal.devstack.processes import free_port
from portal.integrations import vault
from tests.vault.conftest import MOUNT

pytestmark = pytest.mark.integration


def test_errors_are_domain_errors_with_api_statuses():
    assert issubclass(vault.VaultError, DomainError)
    assert issubclass(vault.VaultUnavailable, ServiceUnavailable)
    assert vault.VaultUnavailable.status == 503
    assert issubclass(vault.VaultAlreadyGone, Gone)
    assert vault.VaultAlreadyGone.status == 410
    for error in (vault.VaultUnavailable, vault.VaultForbidden, vault.VaultRoleMissing, vault.VaultAlreadyGone):
        assert issubclass(error, vault.VaultError)


def test_a_vault_that_does_not_answer_raises_vault_unavailable(stack):
    with override_settings(VAULT_ADDR=f"http://127.0.0.1:{free_port()}"):
        with pytest.raises(vault.VaultUnavailable) as caught:
            vault.list_roles(mount=MOUNT)
        assert vault.health()["reachable"] is False

    assert not isinstance(caught.value.__context__, vault.hvac.exceptions.VaultError)
    # Back on the real address, the module works again.
    assert "orders-admin" in vault.list_roles(mount=MOUNT)


def test_bad_arguments_are_refused_before_calling_vault():
    with pytest.raises(ValueError, match="ttl_seconds"):
        vault.create_grant_token(mount=MOUNT, role="orders-admin", ttl_seconds=0, metadata={})
    with pytest.raises(ValueError, match="strings"):
        vault.create_grant_token(mount=MOUNT, role="orders-admin", ttl_seconds=60, metadata={"request_id": 7})
