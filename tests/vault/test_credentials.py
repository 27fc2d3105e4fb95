"""A grant token reads credentials wrapped; the reveal unwraps them once, from the right path only."""

import psycopg
import pytest

from portal.integrations import vault
from tests.vault.conftest import MOUNT, lease_exists, shop_url

pytestmark = pytest.mark.integration


def test_grant_token_reads_wrapped_credentials_that_log_in_to_the_shop_database(stack, issue):
    grant, wrapped = issue(role="orders-readwrite")

    assert wrapped.creation_path == "database/creds/orders-readwrite"
    credentials = vault.unwrap_credentials(wrapping_token=wrapped.wrapping_token, expected_path=wrapped.creation_path)

    with psycopg.connect(shop_url(stack, credentials.username, credentials.password)) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM analytics")
    assert credentials.lease_id.startswith("database/creds/orders-readwrite/")
    assert lease_exists(stack, credentials.lease_id)


def test_a_second_unwrap_raises_already_gone(issue):
    _, wrapped = issue()
    vault.unwrap_credentials(wrapping_token=wrapped.wrapping_token, expected_path=wrapped.creation_path)

    with pytest.raises(vault.VaultAlreadyGone):
        vault.unwrap_credentials(wrapping_token=wrapped.wrapping_token, expected_path=wrapped.creation_path)


def test_a_wrapping_token_from_another_path_is_refused_without_being_opened(issue):
    _, analytics = issue(role="analytics-readonly")

    with pytest.raises(vault.VaultForbidden, match="analytics-readonly"):
        vault.unwrap_credentials(
            wrapping_token=analytics.wrapping_token, expected_path=vault.creds_path(mount=MOUNT, role="orders-admin")
        )

    # The refused token was not used up: its rightful reveal still works.
    credentials = vault.unwrap_credentials(
        wrapping_token=analytics.wrapping_token, expected_path=analytics.creation_path
    )
    assert credentials.username


def test_a_wrapping_token_that_never_existed_is_already_gone(stack):
    with pytest.raises(vault.VaultAlreadyGone):
        vault.unwrap_credentials(
            wrapping_token="s.notawrappingtokenatall000", expected_path="database/creds/orders-readwrite"
        )


def test_a_grant_token_cannot_read_another_roles_credentials(issue):
    grant, _ = issue(role="analytics-readonly")

    with pytest.raises(vault.VaultForbidden):
        vault.read_wrapped_credentials(token=grant.token, mount=MOUNT, role="orders-admin", wrap_ttl_seconds=60)


def test_the_portals_own_token_cannot_read_credentials(stack):
    login = stack._vault(
        "POST", "auth/approle/login", {"role_id": stack.portal_role_id, "secret_id": stack.portal_secret_id}
    )
    portal_token = login["auth"]["client_token"]

    with pytest.raises(vault.VaultForbidden):
        vault.read_wrapped_credentials(token=portal_token, mount=MOUNT, role="orders-readwrite", wrap_ttl_seconds=60)
