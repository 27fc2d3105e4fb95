"""`prepare_vault` makes a real OpenBao ready for the portal, changes nothing the second time, and the
portal then works through it with its AppRole and the shipped least-privilege policy only."""

import io
import uuid

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from portal.integrations import vault
from portal.integrations.vault_setup import (
    Preparation,
    VaultAdmin,
    VaultSetupError,
    grant_policy_name,
    portal_policy_text,
    prepare_vault,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def admin(stack) -> VaultAdmin:
    return VaultAdmin(stack.vault_addr, stack.vault_root_token)


@pytest.fixture
def fresh(admin) -> Preparation:
    """Return names that nothing in the stack's OpenBao uses yet, so the first run starts from nothing."""
    suffix = uuid.uuid4().hex[:8]
    return Preparation(
        mount=f"db-{suffix}",
        portal_policy=f"latchkey-portal-{suffix}",
        grant_token_role=f"latchkey-grant-{suffix}",
        approle_mount=f"approle-{suffix}",
        approle_role=f"latchkey-portal-{suffix}",
        roles=["orders-readwrite", "orders-admin"],
    )


def test_first_run_sets_everything_up_and_the_second_changes_nothing(admin, fresh):
    first = prepare_vault(admin, fresh)
    second = prepare_vault(admin, fresh)

    assert f"enabled the database secrets engine at {fresh.mount}/" in first
    assert f"wrote policy {fresh.portal_policy}" in first
    assert f"wrote policy {grant_policy_name(fresh.mount, 'orders-admin')}" in first
    assert f"created token role {fresh.grant_token_role}" in first
    assert f"enabled AppRole at auth/{fresh.approle_mount}/" in first
    assert f"created AppRole {fresh.approle_role}" in first
    assert second == []
    grant_policy = admin.read(f"sys/policies/acl/{grant_policy_name(fresh.mount, 'orders-admin')}")["policy"]
    assert f'path "{fresh.mount}/creds/orders-admin"' in grant_policy
    role = admin.read(f"auth/{fresh.approle_mount}/role/{fresh.approle_role}")
    assert role["token_policies"] == [fresh.portal_policy]


def test_a_drifted_policy_is_put_back_and_reported(admin, fresh):
    prepare_vault(admin, fresh)
    admin.call("PUT", f"sys/policies/acl/{fresh.portal_policy}", {"policy": 'path "*" { capabilities = ["sudo"] }'})

    changes = prepare_vault(admin, fresh)

    assert changes == [f"updated policy {fresh.portal_policy}"]
    assert admin.read(f"sys/policies/acl/{fresh.portal_policy}")["policy"].strip() == portal_policy_text(fresh).strip()


def test_the_correlation_header_is_audited_in_clear(admin, fresh):
    prepare_vault(admin, fresh)

    headers = admin.call("GET", "sys/config/auditing/request-headers")
    headers = headers.get("headers") or headers["data"]["headers"]
    setting = next(value for key, value in headers.items() if key.lower() == "x-request-id")
    assert setting["hmac"] is False


def test_a_mount_of_another_type_is_refused_with_a_clear_error(admin, fresh):
    admin.call("POST", f"sys/mounts/{fresh.mount}", {"type": "kv"})

    with pytest.raises(VaultSetupError, match="not a database secrets engine"):
        prepare_vault(admin, fresh)


def test_a_wrong_token_is_a_clear_error(stack, fresh):
    with pytest.raises(VaultSetupError, match="403"):
        prepare_vault(VaultAdmin(stack.vault_addr, "not-a-token"), fresh)


def test_the_command_prints_its_changes_then_says_nothing_changed(stack, monkeypatch):
    monkeypatch.setenv("VAULT_ADMIN_TOKEN", stack.vault_root_token)
    suffix = uuid.uuid4().hex[:8]
    mount = f"db-{suffix}"
    argv = ["--vault-addr", stack.vault_addr, "--mount", mount, "--role", "x", "--approle", f"portal-{suffix}"]
    first, second = io.StringIO(), io.StringIO()

    call_command("prepare_vault", *argv, stdout=first)
    call_command("prepare_vault", *argv, stdout=second)

    assert f"changed: enabled the database secrets engine at {mount}/" in first.getvalue()
    assert "nothing to change" in second.getvalue()
    assert "changed:" not in second.getvalue()
    assert "VAULT_ROLE_ID=" in second.getvalue()


def test_the_command_refuses_to_run_without_a_privileged_token(monkeypatch):
    monkeypatch.delenv("VAULT_ADMIN_TOKEN", raising=False)

    with pytest.raises(CommandError, match="VAULT_ADMIN_TOKEN"):
        call_command("prepare_vault", stdout=io.StringIO())


def test_the_stack_is_prepared_by_the_same_code(stack, admin):
    preparation = Preparation(roles=["analytics-readonly", "orders-readwrite", "orders-admin"])

    assert prepare_vault(admin, preparation, role_id=stack.portal_role_id, secret_id=stack.portal_secret_id) == []


def test_issue_reveal_revoke_works_with_a_new_approle_secret_id_under_the_shipped_policy(stack, admin, monkeypatch):
    monkeypatch.setenv("VAULT_ADMIN_TOKEN", stack.vault_root_token)
    out = io.StringIO()
    call_command("prepare_vault", "--vault-addr", stack.vault_addr, "--new-secret-id", stdout=out)
    printed = dict(line.split("=", 1) for line in out.getvalue().splitlines() if line.startswith("VAULT_"))

    with override_settings(
        VAULT_ADDR=stack.vault_addr,
        VAULT_TOKEN="",
        VAULT_ROLE_ID=printed["VAULT_ROLE_ID"],
        VAULT_SECRET_ID=printed["VAULT_SECRET_ID"],
    ):
        grant = vault.create_grant_token(
            mount="database", role="analytics-readonly", ttl_seconds=300, metadata={"request": "prod-test"}
        )
        wrapped = vault.read_wrapped_credentials(
            token=grant.token, mount="database", role="analytics-readonly", wrap_ttl_seconds=60
        )
        credentials = vault.unwrap_credentials(
            wrapping_token=wrapped.wrapping_token, expected_path="database/creds/analytics-readonly"
        )
        url = f"postgresql://{credentials.username}:{credentials.password}@127.0.0.1:{stack.ports.postgres}/shop"
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM analytics").fetchone()[0] > 0
        vault.revoke_grant_token(accessor=grant.accessor)

        assert not vault.grant_token_alive(accessor=grant.accessor)
    # Vault drops the database role a moment after the token is revoked.
    assert wait_until(lambda: not _can_connect(url), timeout_seconds=30)
    assert printed["VAULT_ROLE_ID"] == stack.portal_role_id


def _can_connect(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError:
        return False
    return True
