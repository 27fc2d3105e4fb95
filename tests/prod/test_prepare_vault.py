"""`prepare_vault` makes a real OpenBao ready for the portal, changes nothing the second time, and the
portal then works through it with its two AppRoles (web, worker) and the shipped least-privilege policies only."""

import io
import re
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
    policy_text,
    prepare_vault,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def admin(stack) -> VaultAdmin:
    return VaultAdmin(stack.vault_addr, stack.vault_root_token)


@pytest.fixture
def fresh(admin) -> Preparation:
    """Return names that nothing in the stack's OpenBao uses yet, so the first run starts from nothing.

    Its mounts go afterwards: the grant token role's maximum counts the roles of every database mount.
    """
    suffix = uuid.uuid4().hex[:8]
    yield Preparation(
        mount=f"db-{suffix}",
        grant_token_role=f"latchkey-grant-{suffix}",
        approle_mount=f"approle-{suffix}",
        web_approle=f"latchkey-web-{suffix}",
        worker_approle=f"latchkey-worker-{suffix}",
        audit_mount=f"audit-{suffix}",
        roles=["orders-readwrite", "orders-admin"],
    )
    for mount in (f"db-{suffix}", f"audit-{suffix}"):
        admin.call("DELETE", f"sys/mounts/{mount}")


def test_first_run_sets_everything_up_and_the_second_changes_nothing(admin, fresh):
    first = prepare_vault(admin, fresh)
    second = prepare_vault(admin, fresh)

    assert f"enabled the database secrets engine at {fresh.mount}/" in first
    assert f"enabled a KV version 2 secrets engine at {fresh.audit_mount}/ (the audit anchor)" in first
    assert f"wrote policy {fresh.web_approle}" in first
    assert f"wrote policy {fresh.worker_approle}" in first
    assert f"wrote policy {grant_policy_name(fresh.mount, 'orders-admin')}" in first
    assert f"created token role {fresh.grant_token_role}" in first
    assert f"enabled AppRole at auth/{fresh.approle_mount}/" in first
    assert f"created AppRole {fresh.web_approle} (web)" in first
    assert f"created AppRole {fresh.worker_approle} (worker)" in first
    assert second == []
    grant_policy = admin.read(f"sys/policies/acl/{grant_policy_name(fresh.mount, 'orders-admin')}")["policy"]
    assert f'path "{fresh.mount}/creds/orders-admin"' in grant_policy
    assert 'min_wrapping_ttl = "1s"' in grant_policy
    for identity in ("web", "worker"):
        role = admin.read(f"auth/{fresh.approle_mount}/role/{fresh.approle(identity)}")
        assert role["token_policies"] == [fresh.approle(identity)]
        assert role["token_no_default_policy"] is True
        assert role["secret_id_ttl"] == 720 * 3600
    assert admin.read("sys/mounts")[f"{fresh.audit_mount}/"]["options"]["version"] == "2"


def test_the_policies_name_the_mounts_and_token_role_of_the_preparation(fresh):
    worker = set(re.findall(r'path "([^"]+)"', policy_text(fresh, "worker")))
    web = set(re.findall(r'path "([^"]+)"', policy_text(fresh, "web")))

    assert f"auth/token/create/{fresh.grant_token_role}" in worker
    assert f"{fresh.audit_mount}/data/head" in worker
    assert f"{fresh.mount}/roles/*" in worker
    assert {"sys/wrapping/lookup", "sys/wrapping/unwrap", f"{fresh.mount}/config/*"} <= web
    assert not [path for path in web if "auth/token/create" in path or "revoke" in path or "/creds/" in path]
    assert not [path for path in worker if "sys/wrapping" in path or "/creds/" in path]
    assert not [path for path in web | worker if "{" in path]


def test_the_approles_are_bound_to_the_configured_networks(admin, fresh):
    fresh.web_bound_cidrs = ["10.0.1.0/24"]
    fresh.worker_bound_cidrs = ["10.0.2.0/24", "10.0.3.0/24"]

    prepare_vault(admin, fresh)

    web = admin.read(f"auth/{fresh.approle_mount}/role/{fresh.web_approle}")
    worker = admin.read(f"auth/{fresh.approle_mount}/role/{fresh.worker_approle}")
    assert web["secret_id_bound_cidrs"] == ["10.0.1.0/24"] and web["token_bound_cidrs"] == ["10.0.1.0/24"]
    assert sorted(worker["secret_id_bound_cidrs"]) == ["10.0.2.0/24", "10.0.3.0/24"]
    assert sorted(worker["token_bound_cidrs"]) == ["10.0.2.0/24", "10.0.3.0/24"]


def test_a_login_from_outside_the_bound_network_is_refused(stack, admin, fresh):
    fresh.web_bound_cidrs = ["10.255.0.0/16"]
    prepare_vault(admin, fresh)
    role_id = admin.read(f"auth/{fresh.approle_mount}/role/{fresh.web_approle}/role-id")["role_id"]
    secret_id = admin.call("POST", f"auth/{fresh.approle_mount}/role/{fresh.web_approle}/secret-id", {})["data"]

    with pytest.raises(VaultSetupError):
        VaultAdmin(stack.vault_addr, "").call(
            "POST", f"auth/{fresh.approle_mount}/login", {"role_id": role_id, "secret_id": secret_id["secret_id"]}
        )


def test_the_token_role_caps_grant_tokens_at_the_longest_role_maximum(stack, admin, fresh):
    prepare_vault(admin, fresh)
    for role, max_ttl in (("orders-readwrite", "9h"), ("orders-admin", "30m")):
        admin.call(
            "POST", f"{fresh.mount}/roles/{role}", {"db_name": "none", "creation_statements": ["x"], "max_ttl": max_ttl}
        )

    changes = prepare_vault(admin, fresh)

    assert changes == [f"updated token role {fresh.grant_token_role}"]
    # Longer than any role of the stack's own mount (8 hours at most).
    assert admin.read(f"auth/token/roles/{fresh.grant_token_role}")["token_explicit_max_ttl"] == 9 * 3600


def test_a_drifted_policy_is_put_back_and_reported(admin, fresh):
    prepare_vault(admin, fresh)
    admin.call("PUT", f"sys/policies/acl/{fresh.web_approle}", {"policy": 'path "*" { capabilities = ["sudo"] }'})

    changes = prepare_vault(admin, fresh)

    assert changes == [f"updated policy {fresh.web_approle}"]
    assert admin.read(f"sys/policies/acl/{fresh.web_approle}")["policy"].strip() == policy_text(fresh, "web").strip()


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


def test_an_audit_anchor_mount_that_is_not_kv_version_2_is_refused(admin, fresh):
    admin.call("POST", f"sys/mounts/{fresh.audit_mount}", {"type": "kv", "options": {"version": "1"}})

    with pytest.raises(VaultSetupError, match="not KV version 2"):
        prepare_vault(admin, fresh)


def test_a_wrong_token_is_a_clear_error(stack, fresh):
    with pytest.raises(VaultSetupError, match="403"):
        prepare_vault(VaultAdmin(stack.vault_addr, "not-a-token"), fresh)


def test_the_command_prints_its_changes_then_says_nothing_changed(stack, monkeypatch):
    monkeypatch.setenv("VAULT_ADMIN_TOKEN", stack.vault_root_token)
    suffix = uuid.uuid4().hex[:8]
    mount = f"db-{suffix}"
    argv = [
        *("--vault-addr", stack.vault_addr, "--mount", mount, "--role", "x"),
        *("--web-approle", f"web-{suffix}", "--worker-approle", f"worker-{suffix}"),
    ]
    first, second = io.StringIO(), io.StringIO()

    try:
        call_command("prepare_vault", *argv, stdout=first)
        call_command("prepare_vault", *argv, stdout=second)
    finally:
        VaultAdmin(stack.vault_addr, stack.vault_root_token).call("DELETE", f"sys/mounts/{mount}")

    assert f"changed: enabled the database secrets engine at {mount}/" in first.getvalue()
    assert "nothing to change" in second.getvalue()
    assert "changed:" not in second.getvalue()
    assert "web: VAULT_ROLE_ID=" in second.getvalue()
    assert "worker: VAULT_ROLE_ID=" in second.getvalue()
    assert "VAULT_SECRET_ID=" not in second.getvalue()


def test_the_command_refuses_to_run_without_a_privileged_token(monkeypatch):
    monkeypatch.delenv("VAULT_ADMIN_TOKEN", raising=False)

    with pytest.raises(CommandError, match="VAULT_ADMIN_TOKEN"):
        call_command("prepare_vault", stdout=io.StringIO())


def test_the_stack_is_prepared_by_the_same_code(stack, admin):
    preparation = Preparation(roles=["analytics-readonly", "orders-readwrite", "orders-admin"])
    logins = {
        identity: (stack.vault_role_id(identity), stack.vault_secret_id(identity)) for identity in ("web", "worker")
    }

    assert prepare_vault(admin, preparation, logins=logins) == []


def test_the_command_names_the_former_shared_approle_for_deletion(stack, admin, monkeypatch):
    monkeypatch.setenv("VAULT_ADMIN_TOKEN", stack.vault_root_token)
    admin.call("POST", "auth/approle/role/latchkey-portal", {"token_policies": ["default"]})
    out = io.StringIO()
    try:
        call_command("prepare_vault", "--vault-addr", stack.vault_addr, stdout=out)
    finally:
        admin.call("DELETE", "auth/approle/role/latchkey-portal")

    assert "to do: The AppRole latchkey-portal" in out.getvalue()
    assert "bao delete auth/approle/role/latchkey-portal" in out.getvalue()


def test_issue_reveal_revoke_works_with_new_secret_ids_each_identity_its_own_part(stack, admin, monkeypatch):
    monkeypatch.setenv("VAULT_ADMIN_TOKEN", stack.vault_root_token)
    out = io.StringIO()
    call_command("prepare_vault", "--vault-addr", stack.vault_addr, "--new-secret-id", "both", stdout=out)
    printed = {}
    for line in out.getvalue().splitlines():
        if ": VAULT_" in line:
            identity, assignment = line.split(": ", 1)
            name, value = assignment.split("=", 1)
            printed.setdefault(identity, {})[name] = value
    as_worker = override_settings(VAULT_ADDR=stack.vault_addr, VAULT_TOKEN="", **printed["worker"])
    as_web = override_settings(VAULT_ADDR=stack.vault_addr, VAULT_TOKEN="", **printed["web"])

    with as_worker:
        grant = vault.create_grant_token(
            mount="database", role="analytics-readonly", ttl_seconds=300, metadata={"request": "prod-test"}
        )
        wrapped = vault.read_wrapped_credentials(
            token=grant.token, mount="database", role="analytics-readonly", wrap_ttl_seconds=60
        )
    with as_web:
        credentials = vault.unwrap_credentials(
            wrapping_token=wrapped.wrapping_token, expected_path="database/creds/analytics-readonly"
        )
    url = f"postgresql://{credentials.username}:{credentials.password}@127.0.0.1:{stack.ports.postgres}/shop"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM analytics").fetchone()[0] > 0
    with as_worker:
        vault.revoke_grant_token(accessor=grant.accessor)
        assert not vault.grant_token_alive(accessor=grant.accessor)
    # Vault drops the database role a moment after the token is revoked.
    assert wait_until(lambda: not _can_connect(url), timeout_seconds=30)
    assert printed["web"]["VAULT_ROLE_ID"] == stack.vault_role_id("web")
    assert printed["worker"]["VAULT_ROLE_ID"] == stack.vault_role_id("worker")


def _can_connect(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError:
        return False
    return True
