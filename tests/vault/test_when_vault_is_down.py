"""With Vault sealed or stopped, every verb says "unavailable, retry later"; the stack is restored afterwards.

This module seals and stops the shared OpenBao: it is named to run after the other Vault tests.
"""

import pytest

from portal.integrations import vault
from tests.vault.conftest import MOUNT

pytestmark = pytest.mark.integration


def _restore_vault(stack):
    """Replace a sealed or stopped OpenBao by a fresh one (start_vault configures it again)."""
    if "openbao" in stack.processes and stack._vault("GET", "sys/seal-status")["sealed"]:
        stack.stop_vault()
    if "openbao" not in stack.processes:
        stack.start_vault()


@pytest.fixture(scope="module")
def vault_sealed(stack):
    """Seal OpenBao for the tests that need it sealed."""
    stack._vault("PUT", "sys/seal")
    yield
    _restore_vault(stack)


@pytest.fixture(scope="module")
def vault_down(stack):
    """Stop OpenBao for the tests that need it down."""
    stack.stop_vault()
    yield
    _restore_vault(stack)


@pytest.fixture
def vault_back(stack):
    """Bring OpenBao back after the tests that sealed or stopped it."""
    _restore_vault(stack)


def test_health_reports_a_sealed_vault(vault_sealed):
    assert vault.health() == {
        "reachable": True,
        "sealed": True,
        "token_valid": False,
        "detail": "Vault is sealed.",
    }


def test_a_sealed_vault_raises_vault_unavailable(vault_sealed):
    with pytest.raises(vault.VaultUnavailable):
        vault.list_roles(mount=MOUNT)
    with pytest.raises(vault.VaultUnavailable):
        vault.create_grant_token(mount=MOUNT, role="orders-admin", ttl_seconds=60, metadata={})


@pytest.mark.parametrize(
    "call",
    [
        lambda: vault.create_grant_token(mount=MOUNT, role="orders-admin", ttl_seconds=60, metadata={}),
        lambda: vault.read_wrapped_credentials(token="s.x", mount=MOUNT, role="orders-admin", wrap_ttl_seconds=60),
        lambda: vault.unwrap_credentials(wrapping_token="s.x", expected_path="database/creds/orders-admin"),
        lambda: vault.revoke_grant_token(accessor="x"),
        lambda: vault.grant_token_alive(accessor="x"),
        lambda: vault.list_roles(mount=MOUNT),
        lambda: vault.connection_info(mount=MOUNT, role="orders-admin"),
    ],
    ids=["create", "read", "unwrap", "revoke", "alive", "list", "connection"],
)
def test_every_verb_raises_vault_unavailable_while_vault_is_down(vault_down, call):
    with pytest.raises(vault.VaultUnavailable):
        call()


def test_health_reports_an_unreachable_vault(vault_down):
    state = vault.health()

    assert state["reachable"] is False
    assert state["token_valid"] is False


def test_the_portal_works_again_once_vault_is_back(vault_back):
    # The old login died with the old server: the module signs in again by itself.
    assert "orders-admin" in vault.list_roles(mount=MOUNT)
    assert vault.health()["token_valid"] is True
