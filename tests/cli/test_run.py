"""`latchkey run` end to end: a live portal, the real OpenBao, PostgreSQL, Redis and a Celery worker."""

import sys

import psycopg
import pytest

from portal.access import services
from portal.access.models import AccessRequest, AuditEvent
from tests.grants.conftest import wait_for_state
from tests.support.waiting import wait_until
from tests.vault.conftest import role_exists

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WHY = "Run the nightly analytics migration"

# The command that `run` starts: it opens a real connection with the environment it was given,
# and leaves the connection URI where the test can try it again after the grant ends.
CHILD = """
import os, sys, psycopg
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    rows = conn.execute("SELECT count(*) FROM analytics").fetchone()[0]
    same = conn.execute("SELECT current_user").fetchone()[0] == os.environ["PGUSER"]
with psycopg.connect() as conn:  # PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD
    conn.execute("SELECT 1")
open(sys.argv[1], "w").write(os.environ["DATABASE_URL"])
print(f"rows={rows} same_user={same} token_passed={'LATCHKEY_TOKEN' in os.environ}")
sys.exit(int(sys.argv[2]))
"""


def can_log_in(uri: str) -> bool:
    try:
        with psycopg.connect(uri, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def test_run_connects_with_the_grant_and_the_credential_dies_when_the_command_exits(
    latchkey, stack, worker, beat, people, catalog, tmp_path
):
    uri_file = tmp_path / "uri"

    result = latchkey(
        "run", "analytics-readonly", "--duration", "5m", "-j", WHY, "--poll", "0.5",
        "--", sys.executable, "-c", CHILD, str(uri_file), "0",
        name="alice",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "rows=" in result.stdout and "same_user=True" in result.stdout
    assert "token_passed=False" in result.stdout
    grant = wait_for_state(AccessRequest.objects.get().pk, "revoked")
    assert grant.revoked_by == people["alice"]
    uri = uri_file.read_text()
    username = psycopg.conninfo.conninfo_to_dict(uri)["user"]
    assert wait_until(lambda: not role_exists(stack, username), timeout_seconds=20)
    assert not can_log_in(uri)
    # The secret never reached the command line's output nor the history.
    password = psycopg.conninfo.conninfo_to_dict(uri)["password"]
    assert password not in result.stdout + result.stderr
    assert not any(password in event.canonical() for event in AuditEvent.objects.all())


def test_run_ends_with_the_commands_status_and_still_revokes(latchkey, stack, worker, beat, people, catalog, tmp_path):
    result = latchkey(
        "run", "analytics-readonly", "-j", WHY, "--poll", "0.5",
        "--", sys.executable, "-c", CHILD, str(tmp_path / "uri"), "3",
        name="alice",
    )  # fmt: skip

    assert result.returncode == 3, result.stderr
    wait_for_state(AccessRequest.objects.get().pk, "revoked")
    assert not can_log_in((tmp_path / "uri").read_text())


def test_run_waits_for_an_approver_with_progress_on_stderr(latchkey, stack, worker, beat, people, catalog, tmp_path):
    running = latchkey(
        "run", "orders-readwrite", "-d", "10m", "-j", WHY, "--poll", "0.5",
        "--", sys.executable, "-c", "import os; print(os.environ['PGUSER'])",
        name="alice", background=True,
    )  # fmt: skip
    assert wait_until(lambda: AccessRequest.objects.filter(state="pending").exists(), timeout_seconds=30)
    request = AccessRequest.objects.get()

    approved = latchkey("approve", str(request.pk), "-m", "ok for the migration", name="bob")
    stdout, stderr = running.communicate(timeout=120)

    assert approved.returncode == 0, approved.stderr
    assert running.returncode == 0, stderr
    assert "waiting for approval" in stderr
    assert stdout.strip().startswith("v-")
    wait_for_state(request.pk, "revoked")


def test_run_stops_with_status_7_when_the_request_is_denied(latchkey, worker, people, catalog):
    running = latchkey(
        "run", "orders-readwrite", "-j", WHY, "--poll", "0.5", "--", sys.executable, "-c", "print('never')",
        name="alice", background=True,
    )  # fmt: skip
    assert wait_until(lambda: AccessRequest.objects.filter(state="pending").exists(), timeout_seconds=30)

    services.request_deny(actor=people["bob"], request_id=AccessRequest.objects.get().pk, comment="Use the replica")
    stdout, stderr = running.communicate(timeout=60)

    assert running.returncode == 7, stderr
    assert "never" not in stdout
    assert "denied" in stderr and "Use the replica" in stderr


def test_an_application_runs_a_migration_with_its_own_token(latchkey, token_issuer, worker, beat, people, catalog):
    role = catalog["analytics-readonly"]
    role.eligible_app_roles = ["latchkey.analytics-migrate"]
    role.applications_may_request = True
    role.save()
    token = token_issuer.app_token(roles=["latchkey.analytics-migrate"], app_displayname="analytics-deploy")

    result = latchkey(
        "run", "analytics-readonly", "-d", "5m", "-j", "Deploy 4.2: migrate the analytics schema", "--poll", "0.5",
        "--", sys.executable, "-c", "import psycopg; psycopg.connect().execute('SELECT 1'); print('migrated')",
        token=token,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "migrated"
    grant = wait_for_state(AccessRequest.objects.get().pk, "revoked")
    assert grant.requester.profile.is_application
    actors = set(AuditEvent.objects.filter(request=grant, actor__isnull=False).values_list("actor_label", flat=True))
    assert actors == {"app:analytics-deploy"}


def test_run_of_a_missing_command_exits_127_and_revokes(latchkey, worker, beat, people, catalog):
    result = latchkey(
        "run", "analytics-readonly", "-j", WHY, "--poll", "0.5", "--", "no-such-command-xyz", name="alice"
    )

    assert result.returncode == 127, result.stderr
    assert "command not found" in result.stderr
    wait_for_state(AccessRequest.objects.get().pk, "revoked")
