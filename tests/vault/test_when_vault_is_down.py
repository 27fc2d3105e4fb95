"""With Vault stopped, every verb says "unavailable, retry later"; the stack is restored afterwards.

This module stops the shared OpenBao: it is named to run after the other Vault tests.
"""

import pytest

from portal.integrations import vault
from tests.vault.conftest import MOUNT

pytestmark = pytest.mark.integration


def _ensure_vault_runs(stack):
    # A dev server starts empty: start_vault configures it again (roles, policies, the portal's AppRole).
    if "openbao" not in stack.processes:
        stack.start_vault()


@pytest.fixture(scope="module")
def vault_down(stack):
    """Stop OpenBao for the tests that need it down, and make sure it runs again afterwards."""
    stack.stop_vault()
    try:
        yield
    finally:
        _ensure_vault_runs(stack)


@pytest.fixture
def vault_back(stack):
    """Start OpenBao again after the tests that stopped it."""
    _ensure_vault_runs(stack)


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
