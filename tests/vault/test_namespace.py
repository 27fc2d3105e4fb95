"""Inside a Vault namespace: `prepare_vault` sets it up (and says what only the root namespace may do), and a
grant is issued, revealed, revoked and expired there, every client sending the namespace."""

import io
import uuid

import psycopg
import pytest
from django.core.management import call_command
from django.test import override_settings

from portal.devstack.stack import REVOCATION_STATEMENTS, TARGET_DATABASE
from portal.integrations import vault
from portal.integrations.vault_setup import (
    Preparation,
    VaultAdmin,
    approle_new_secret_id,
    approle_role_id,
    operator_notes,
    prepare_vault,
)
from tests.support.waiting import wait_until
from tests.vault.conftest import role_exists, shop_url

pytestmark = pytest.mark.integration

ROLE = "ns-reader"


@pytest.fixture(scope="module")
def namespace(stack):
    """Create a namespace in the stack's OpenBao, prepare it for the portal, and give it one database role."""
    name = f"team-{uuid.uuid4().hex[:6]}"
    stack._vault("POST", f"sys/namespaces/{name}", {})
    admin = VaultAdmin(stack.vault_addr, stack.vault_root_token, namespace=name)
    preparation = Preparation(roles=[ROLE])
    prepare_vault(admin, preparation)
    admin.call(
        "POST",
        "database/config/shop",
        {
            "plugin_name": "postgresql-database-plugin",
            "connection_url": "postgresql://{{username}}:{{password}}@"
            f"127.0.0.1:{stack.ports.postgres}/{TARGET_DATABASE}?sslmode=disable",
            "username": "postgres",
            "password": stack.postgres_password,
            "allowed_roles": [ROLE],
            "password_authentication": "scram-sha-256",
        },
    )
    admin.call(
        "POST",
        f"database/roles/{ROLE}",
        {
            "db_name": "shop",
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                'GRANT SELECT ON analytics TO "{{name}}";',
            ],
            "revocation_statements": REVOCATION_STATEMENTS,
            "default_ttl": "1h",
            "max_ttl": "1h",
        },
    )
    prepare_vault(admin, preparation)
    logins = {}
    for identity in ("web", "worker"):
        secret_id, _ = approle_new_secret_id(admin, preparation, identity)
        logins[identity] = override_settings(
            VAULT_NAMESPACE=name,
            VAULT_TOKEN="",
            VAULT_ROLE_ID=approle_role_id(admin, preparation, identity),
            VAULT_SECRET_ID=secret_id,
        )
    yield name, admin, preparation, logins
    stack._vault("DELETE", f"sys/namespaces/{name}")


def test_prepare_vault_in_a_namespace_changes_nothing_the_second_time_and_names_the_root_only_step(namespace):
    _, admin, preparation, _ = namespace

    assert prepare_vault(admin, preparation) == []
    notes = operator_notes(admin, preparation)
    assert any("root namespace" in note and "request-headers/X-Request-Id hmac=false" in note for note in notes)


def test_the_command_works_inside_the_namespace_and_prints_what_the_root_namespace_must_do(stack, namespace):
    name = namespace[0]
    out = io.StringIO()

    with override_settings(VAULT_NAMESPACE=name):
        call_command("prepare_vault", "--vault-addr", stack.vault_addr, "--token", stack.vault_root_token, stdout=out)

    assert "nothing to change" in out.getvalue()
    assert "to do: Vault audits request headers for the root namespace only" in out.getvalue()
    assert "web: VAULT_ROLE_ID=" in out.getvalue()


def test_the_portal_signs_in_inside_the_namespace_only(stack, namespace):
    _, _, _, logins = namespace

    with logins["web"]:
        state = vault.health()
        roles = vault.list_roles(mount="database")
    # The same login without the namespace: the root namespace knows no such AppRole.
    with logins["web"], override_settings(VAULT_NAMESPACE=""), pytest.raises(vault.VaultForbidden):
        vault.list_roles(mount="database")

    assert state == {"reachable": True, "sealed": False, "token_valid": True}
    assert roles == {ROLE}


def test_a_grant_is_issued_revealed_and_revoked_inside_the_namespace(stack, namespace):
    _, _, _, logins = namespace

    with logins["worker"]:
        grant = vault.create_grant_token(mount="database", role=ROLE, ttl_seconds=300, metadata={"request_id": "ns"})
        wrapped = vault.read_wrapped_credentials(token=grant.token, mount="database", role=ROLE, wrap_ttl_seconds=60)
    with logins["web"]:
        connection = vault.connection_info(mount="database", role=ROLE)
        credentials = vault.unwrap_credentials(
            wrapping_token=wrapped.wrapping_token, expected_path=wrapped.creation_path
        )
    with psycopg.connect(shop_url(stack, credentials.username, credentials.password)) as conn:
        assert conn.execute("SELECT count(*) FROM analytics").fetchone()[0] > 0
    with logins["worker"]:
        vault.revoke_grant_token(accessor=grant.accessor)
        assert not vault.grant_token_alive(accessor=grant.accessor)

    assert connection.database == TARGET_DATABASE
    assert wait_until(lambda: not role_exists(stack, credentials.username), timeout_seconds=30)


def test_a_grant_token_in_the_namespace_expires_with_its_credential(stack, namespace):
    _, _, _, logins = namespace

    with logins["worker"]:
        grant = vault.create_grant_token(mount="database", role=ROLE, ttl_seconds=3, metadata={})
        wrapped = vault.read_wrapped_credentials(token=grant.token, mount="database", role=ROLE, wrap_ttl_seconds=60)
    with logins["web"]:
        credentials = vault.unwrap_credentials(
            wrapping_token=wrapped.wrapping_token, expected_path=wrapped.creation_path
        )
    assert role_exists(stack, credentials.username)

    # Nobody revokes anything: Vault alone ends the token and the database role.
    with logins["worker"]:
        assert wait_until(lambda: not vault.grant_token_alive(accessor=grant.accessor), timeout_seconds=30)
    assert wait_until(lambda: not role_exists(stack, credentials.username), timeout_seconds=30)


@pytest.mark.django_db
@pytest.mark.parametrize("process", ["web", "worker"])
def test_the_doctor_checks_vault_inside_the_namespace(namespace, process):
    name, _, _, logins = namespace
    out = io.StringIO()

    with logins["web" if process == "web" else "worker"]:
        call_command("doctor", "--process", process, stdout=out)

    assert f"(namespace {name}) reachable, unsealed, this process signs in" in out.getvalue()
    assert f"ok   vault capabilities: exactly what {process} needs" in out.getvalue()
