"""Grant tokens: orphan, limited to one role, labelled, revoked by accessor, and dead at their TTL."""

import psycopg
import pytest
from urllib3.connectionpool import HTTPConnectionPool

from portal.devstack import stack as devstack
from portal.devstack import tenant
from portal.integrations import vault
from tests.support.waiting import wait_until
from tests.vault.conftest import MOUNT, lease_exists, role_exists, shop_url

pytestmark = pytest.mark.integration


def test_grant_token_is_an_orphan_limited_to_one_role_and_labelled_with_the_request(stack, issue):
    alice, bob = tenant.USERS["alice"], tenant.USERS["bob"]
    metadata = {"request_id": "42", "requester_oid": alice.oid, "requester_upn": alice.upn, "approvers": bob.upn}

    grant, _ = issue(role="orders-readwrite", ttl_seconds=600, metadata=metadata)

    token = stack._vault("POST", "auth/token/lookup-accessor", {"accessor": grant.accessor})["data"]
    assert token["policies"] == ["latchkey-grant-database-orders-readwrite"]
    assert token["orphan"] is True
    assert token["renewable"] is False
    assert token["meta"] == metadata
    assert token["creation_ttl"] == 600
    assert token["explicit_max_ttl"] == 600


def test_grant_policy_name_is_the_one_the_stack_installs():
    assert vault.grant_policy_name("database", "orders-admin") == devstack.grant_policy_name("database", "orders-admin")
    assert vault.grant_policy_name("/team/db/", "x") == devstack.grant_policy_name("/team/db/", "x")


def test_a_grant_token_for_a_role_that_does_not_exist_is_refused(stack):
    with pytest.raises(vault.VaultRoleMissing):
        vault.create_grant_token(mount=MOUNT, role="no-such-role", ttl_seconds=60, metadata={})


def test_grant_after_grant_reuses_the_connections_to_vault(stack, issue, monkeypatch):
    issue()
    opened = []
    new_connection = HTTPConnectionPool._new_conn

    def counted(pool):
        opened.append(pool.port)
        return new_connection(pool)

    monkeypatch.setattr(HTTPConnectionPool, "_new_conn", counted)
    for _ in range(5):
        issue()

    assert opened == []


def test_revoking_by_accessor_drops_the_database_role_and_ends_open_sessions(stack, issue):
    grant, wrapped = issue(role="orders-admin")
    credentials = vault.unwrap_credentials(wrapping_token=wrapped.wrapping_token, expected_path=wrapped.creation_path)
    open_session = psycopg.connect(shop_url(stack, credentials.username, credentials.password), autocommit=True)
    assert open_session.execute("SELECT 1").fetchone() == (1,)
    assert vault.grant_token_alive(accessor=grant.accessor)

    vault.revoke_grant_token(accessor=grant.accessor)

    assert not vault.grant_token_alive(accessor=grant.accessor)
    # Vault revokes the token's leases in the background, right after the token itself.
    assert wait_until(lambda: not lease_exists(stack, credentials.lease_id), timeout_seconds=30)
    assert wait_until(lambda: not role_exists(stack, credentials.username), timeout_seconds=30)
    with pytest.raises(psycopg.OperationalError):
        open_session.execute("SELECT 1")


def test_revoking_twice_or_an_unknown_accessor_is_fine(stack, issue):
    grant, _ = issue()

    vault.revoke_grant_token(accessor=grant.accessor)
    vault.revoke_grant_token(accessor=grant.accessor)
    vault.revoke_grant_token(accessor="nosuchaccessor0000000000")

    assert not vault.grant_token_alive(accessor=grant.accessor)


def test_a_grant_token_dies_at_its_ttl_and_takes_its_credential_with_it(stack, issue):
    grant, wrapped = issue(role="analytics-readonly", ttl_seconds=3)
    credentials = vault.unwrap_credentials(wrapping_token=wrapped.wrapping_token, expected_path=wrapped.creation_path)
    assert role_exists(stack, credentials.username)

    # Nobody revokes anything: Vault alone must end the token, its lease and the database role.
    assert wait_until(lambda: not vault.grant_token_alive(accessor=grant.accessor), timeout_seconds=30)
    assert wait_until(lambda: not role_exists(stack, credentials.username), timeout_seconds=30)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(shop_url(stack, credentials.username, credentials.password), connect_timeout=3)
