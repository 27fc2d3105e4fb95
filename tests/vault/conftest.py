"""Helpers for the Vault module's tests: they run against the stack's real OpenBao and PostgreSQL."""

import psycopg
import pytest

from portal.devstack.stack import DATABASE_MOUNT
from portal.integrations import vault

MOUNT = DATABASE_MOUNT


@pytest.fixture
def issue(stack):
    """Return a function that creates a grant token and reads its credentials wrapped; revoke them afterwards."""
    accessors = []

    def issue(role="orders-readwrite", ttl_seconds=300, metadata=None):
        grant = vault.create_grant_token(
            mount=MOUNT,
            role=role,
            ttl_seconds=ttl_seconds,
            metadata=metadata or {"request_id": "1", "requester_oid": "b0000000-0000-4000-8000-000000000001"},
        )
        accessors.append(grant.accessor)
        wrapped = vault.read_wrapped_credentials(token=grant.token, mount=MOUNT, role=role, wrap_ttl_seconds=120)
        return grant, wrapped

    yield issue
    for accessor in accessors:
        vault.revoke_grant_token(accessor=accessor)


def shop_url(stack, username, password):
    return f"postgresql://{username}:{password}@127.0.0.1:{stack.ports.postgres}/shop"


def lease_exists(stack, lease_id) -> bool:
    """Return whether Vault still has the lease `lease_id` (asked with the root token: the portal may not)."""
    from portal.devstack.processes import StackError

    try:
        stack._vault("PUT", "sys/leases/lookup", {"lease_id": lease_id})
    except StackError as error:
        if "invalid lease" in str(error):
            return False
        raise
    return True


def role_exists(stack, username) -> bool:
    with psycopg.connect(stack.database_url("shop")) as admin:
        return admin.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [username]).fetchone()[0] == 1
