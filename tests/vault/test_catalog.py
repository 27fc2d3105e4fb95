"""The catalog's view of Vault: which roles a mount has, and where their credentials connect."""

import pytest

from portal.integrations import vault
from tests.vault.conftest import MOUNT

pytestmark = pytest.mark.integration


def test_list_roles_returns_the_demo_roles(stack):
    assert vault.list_roles(mount=MOUNT) == {"analytics-readonly", "orders-readwrite", "orders-admin"}


def test_list_roles_of_a_mount_the_portal_may_not_read_is_forbidden(stack):
    with pytest.raises(vault.VaultForbidden):
        vault.list_roles(mount="elsewhere")


def test_connection_info_comes_from_the_roles_database_connection(stack):
    info = vault.connection_info(mount=MOUNT, role="orders-readwrite")

    assert info == vault.ConnectionInfo(host="127.0.0.1", port=stack.ports.postgres, database="shop")


def test_connection_info_of_a_missing_role_raises_role_missing(stack):
    with pytest.raises(vault.VaultRoleMissing, match="no-such-role"):
        vault.connection_info(mount=MOUNT, role="no-such-role")
