"""Each real part of the local stack works, and they work together."""

import json
import os
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from portal.devstack import tenant

pytestmark = pytest.mark.integration


def _vault(stack, method, path, body=None):
    return stack._vault(method, path, body)


def _target_url(stack, username, password):
    return f"postgresql://{username}:{password}@127.0.0.1:{stack.ports.postgres}/shop"


def test_openbao_role_issues_a_credential_that_can_read_its_tables(stack):
    secret = _vault(stack, "GET", "database/creds/orders-readwrite")
    username, password = secret["data"]["username"], secret["data"]["password"]

    with psycopg.connect(_target_url(stack, username, password)) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] >= 100
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] >= 100

    _vault(stack, "PUT", "sys/leases/revoke", {"lease_id": secret["lease_id"]})


def test_credential_cannot_read_tables_its_role_does_not_grant(stack):
    secret = _vault(stack, "GET", "database/creds/analytics-readonly")
    username, password = secret["data"]["username"], secret["data"]["password"]

    with psycopg.connect(_target_url(stack, username, password)) as conn:
        assert conn.execute("SELECT count(*) FROM analytics").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM orders")

    _vault(stack, "PUT", "sys/leases/revoke", {"lease_id": secret["lease_id"]})


def test_revoking_the_lease_drops_the_role_and_ends_open_sessions(stack):
    secret = _vault(stack, "GET", "database/creds/orders-admin")
    username, password = secret["data"]["username"], secret["data"]["password"]
    open_session = psycopg.connect(_target_url(stack, username, password), autocommit=True)
    assert open_session.execute("SELECT 1").fetchone() == (1,)

    _vault(stack, "PUT", "sys/leases/revoke", {"lease_id": secret["lease_id"]})

    with pytest.raises(psycopg.OperationalError):
        open_session.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(_target_url(stack, username, password), connect_timeout=3)
    with psycopg.connect(stack.database_url("shop")) as admin:
        assert admin.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [username]).fetchone()[0] == 0


@pytest.mark.parametrize("identity", ["web", "worker"])
def test_the_portal_signs_in_to_openbao_with_its_approle_and_least_privilege_policy(stack, identity):
    login = _vault(
        stack,
        "POST",
        "auth/approle/login",
        {"role_id": stack.vault_role_id(identity), "secret_id": stack.vault_secret_id(identity)},
    )
    policies = login["auth"]["policies"]
    assert policies == [f"latchkey-{identity}"]
    assert "root" not in policies
    token = login["auth"]["client_token"]
    with pytest.raises(Exception, match="403"):
        stack._vault("GET", "database/creds/orders-admin", token=token)


def test_oidc_discovery_loads_from_the_provider(stack):
    with urllib.request.urlopen(f"{stack.issuer}/.well-known/openid-configuration", timeout=5) as response:
        discovery = json.load(response)
    assert discovery["issuer"] == stack.issuer
    assert discovery["jwks_uri"].startswith(stack.issuer)
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]


def test_demo_users_carry_entra_shaped_claims():
    alice = tenant.USERS["alice"]
    assert alice.oid == "b0000000-0000-4000-8000-000000000001"
    assert alice.claims()["groups"] == [
        "a0000000-0000-4000-8000-000000000001",
        "a0000000-0000-4000-8000-000000000002",
    ]
    assert tenant.USERS["erin"].claims()["groups"] == []
    assert tenant.USERS["dave"].upn == "dave@contoso.example"


@pytest.mark.django_db(transaction=True)
def test_a_celery_task_runs_in_a_real_worker_through_redis(celery_worker):
    from portal.core.models import Heartbeat
    from portal.core.tasks import worker_heartbeat

    worker_heartbeat.delay()

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not Heartbeat.objects.filter(name="worker").exists():
        time.sleep(0.2)
    assert Heartbeat.objects.filter(name="worker").exists(), celery_worker.log_tail()


def _stack_pids(stack) -> list[int]:
    """Return every running process of the stack: each child and whatever runs in its process group."""
    groups = {process.pid for process in stack.processes.values() if process.pid and not process.exited()}
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) in groups:
                pids.append(int(entry.name))
        except ProcessLookupError:
            continue
    return pids


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


def test_no_secret_of_the_stack_is_on_a_command_line_and_logs_are_private(stack, celery_worker):
    secrets = {
        "the OpenBao root token": stack.vault_root_token,
        "the PostgreSQL password": stack.postgres_password,
        "the portal's AppRole secret ID": stack.portal_secret_id,
        "the OIDC client secret": stack.oidc_client_secret,
        "the Django secret key": stack.django_secret_key,
        "the credential encryption key": stack.credential_key,
    }
    pids = _stack_pids(stack)
    command_lines = {pid: _read(Path(f"/proc/{pid}/cmdline")) for pid in pids}
    openbao = stack.processes["openbao"].pid

    assert {stack.processes[name].pid for name in ("postgres", "redis", "openbao", "oidc-provider")} <= set(pids)
    assert celery_worker.pid in pids
    for what, secret in secrets.items():
        assert len(secret) >= 16
        on_a_command_line = [pid for pid, line in command_lines.items() if secret.encode() in line]
        assert not on_a_command_line, f"{what} is on the command line of {on_a_command_line}"
    # OpenBao's dev server prints its root token at start: every log is readable by the stack's user only.
    assert {oct(path.stat().st_mode & 0o777) for path in stack.log_dir.glob("*.log")} == {"0o600"}
    # OpenBao gets its root token from its environment, which only the stack's own user may read.
    assert f"BAO_DEV_ROOT_TOKEN_ID={stack.vault_root_token}".encode() in _read(Path(f"/proc/{openbao}/environ"))
    assert oct(Path(f"/proc/{openbao}/environ").stat().st_mode & 0o777) == "0o400"
