"""Web and worker sign in to Vault as two identities: the web one can reveal but never mint credentials,
the worker one can mint grant tokens but never open them, and a grant token reads credentials wrapped only."""

import psycopg
import pytest
import requests
from django.test import override_settings

from portal.integrations import vault
from tests.grants.conftest import client_for, grant_for, reveal, wait_for_state
from tests.support.fixtures import DEMO_CATALOG
from tests.support.personas import make_user
from tests.support.waiting import wait_until
from tests.vault.conftest import MOUNT, role_exists, shop_url

pytestmark = pytest.mark.integration


@pytest.fixture
def as_web(stack):
    """Sign in to Vault as the web process does, for the block."""
    return override_settings(VAULT_TOKEN="", **stack.vault_identity_env("web"))


@pytest.fixture
def as_worker(stack):
    """Sign in to Vault as the worker and beat do, for the block."""
    return override_settings(VAULT_TOKEN="", **stack.vault_identity_env("worker"))


def test_the_web_identity_cannot_create_a_grant_token(stack, as_web):
    with as_web, pytest.raises(vault.VaultForbidden, match="auth/token/create"):
        vault.create_grant_token(mount=MOUNT, role="orders-admin", ttl_seconds=600, metadata={"request_id": "1"})

    # Nothing was created on the web identity's behalf.
    tokens = stack._vault("LIST", "auth/token/accessors")["data"]["keys"]
    metas = [stack._vault("POST", "auth/token/lookup-accessor", {"accessor": a})["data"]["meta"] for a in tokens]
    assert {"request_id": "1"} not in metas


def test_the_web_identity_cannot_revoke_a_grant_token(stack, issue, as_web):
    grant, _ = issue()

    with as_web, pytest.raises(vault.VaultForbidden):
        vault.revoke_grant_token(accessor=grant.accessor)

    assert vault.grant_token_alive(accessor=grant.accessor)


def test_the_web_identity_reveals_and_reads_connection_metadata(stack, issue, as_web):
    _, wrapped = issue(role="orders-readwrite")

    with as_web:
        connection = vault.connection_info(mount=MOUNT, role="orders-readwrite")
        roles = vault.list_roles(mount=MOUNT)
        credentials = vault.unwrap_credentials(
            wrapping_token=wrapped.wrapping_token, expected_path=wrapped.creation_path
        )

    assert connection.database == "shop"
    assert {"analytics-readonly", "orders-readwrite", "orders-admin"} <= roles
    with psycopg.connect(shop_url(stack, credentials.username, credentials.password)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_the_worker_identity_creates_and_revokes_but_cannot_open_the_credentials(stack, as_worker):
    with as_worker:
        grant = vault.create_grant_token(mount=MOUNT, role="analytics-readonly", ttl_seconds=300, metadata={})
        wrapped = vault.read_wrapped_credentials(
            token=grant.token, mount=MOUNT, role="analytics-readonly", wrap_ttl_seconds=60
        )
        with pytest.raises(vault.VaultForbidden):
            vault.unwrap_credentials(wrapping_token=wrapped.wrapping_token, expected_path=wrapped.creation_path)
        assert vault.grant_token_alive(accessor=grant.accessor)
        vault.revoke_grant_token(accessor=grant.accessor)
        assert not vault.grant_token_alive(accessor=grant.accessor)


def test_the_worker_identity_keeps_the_audit_anchor_and_nothing_else_in_its_mount(stack, as_worker):
    with as_worker:
        client = vault._portal_client()
    headers = {"X-Vault-Token": client.token}
    base = f"{stack.vault_addr}/v1/latchkey-audit"

    # The engine requires check-and-set; each test starts without an anchor (version 0).
    written = requests.post(
        f"{base}/data/head", json={"options": {"cas": 0}, "data": {"head": "abc"}}, headers=headers, timeout=10
    )
    read = requests.get(f"{base}/data/head", headers=headers, timeout=10)
    metadata = requests.get(f"{base}/metadata/head", headers=headers, timeout=10)
    elsewhere = requests.post(
        f"{base}/data/other", json={"options": {"cas": 0}, "data": {"x": "1"}}, headers=headers, timeout=10
    )
    deleted = requests.delete(f"{base}/metadata/head", headers=headers, timeout=10)

    assert written.status_code == 200, written.text
    assert read.json()["data"]["data"] == {"head": "abc"}
    assert metadata.status_code == 200
    assert elsewhere.status_code == 403
    assert deleted.status_code == 403


def test_a_grant_token_cannot_read_credentials_unwrapped(stack, issue):
    grant, _ = issue(role="orders-readwrite")
    url = f"{stack.vault_addr}/v1/{MOUNT}/creds/orders-readwrite"

    unwrapped = requests.get(url, headers={"X-Vault-Token": grant.token}, timeout=10)
    wrapped = requests.get(url, headers={"X-Vault-Token": grant.token, "X-Vault-Wrap-TTL": "60"}, timeout=10)

    # The policy's min_wrapping_ttl: Vault refuses a read that does not ask for wrapping.
    assert unwrapped.status_code == 403, unwrapped.text
    assert "password" not in unwrapped.text
    assert wrapped.status_code == 200 and wrapped.json()["wrap_info"]["token"]
    requests.post(
        f"{stack.vault_addr}/v1/sys/wrapping/unwrap",
        json={"token": wrapped.json()["wrap_info"]["token"]},
        timeout=10,
    )


def test_the_token_role_caps_grant_tokens_at_the_longest_role_maximum(stack):
    role = stack._vault("GET", "auth/token/roles/latchkey-grant")["data"]

    # The demo's longest role is analytics-readonly, 8 hours.
    assert role["token_explicit_max_ttl"] == 8 * 3600


def test_the_approle_secret_ids_expire(stack):
    for name in ("latchkey-web", "latchkey-worker"):
        assert stack._vault("GET", f"auth/approle/role/{name}")["data"]["secret_id_ttl"] == 720 * 3600


@pytest.fixture
def alice(transactional_db):
    from portal.access.catalog import catalog_import

    catalog_import(DEMO_CATALOG.read_text(), source=str(DEMO_CATALOG))
    return make_user("alice")


def test_a_grant_issued_and_revoked_by_the_worker_process_is_revealed_by_the_web_identity(
    stack, celery_worker, alice, as_web
):
    # The worker process signs in as the worker identity: it issues and revokes.
    request = grant_for(alice, "analytics-readonly")
    wait_for_state(request.pk, "active")

    with as_web:
        credentials = reveal(alice, request.pk)
    with psycopg.connect(shop_url(stack, credentials["username"], credentials["password"])) as conn:
        assert conn.execute("SELECT count(*) FROM analytics").fetchone()[0] > 0
    with as_web:
        assert client_for(alice).post(f"/api/v1/requests/{request.pk}/revoke").status_code == 200

    wait_for_state(request.pk, "revoked")
    assert wait_until(lambda: not role_exists(stack, credentials["username"]), timeout_seconds=30)
