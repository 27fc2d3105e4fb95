"""`latchkey roles`, `request`, `status`, `approve`, `credentials` and `revoke` against a live portal."""

import json
import shlex
import subprocess
import sys

import psycopg
import pytest

from portal.access.models import AccessRequest
from tests.support.grants import wait_for_state

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WHY = "Check the analytics totals for the board"


def test_roles_lists_what_the_caller_may_request(latchkey, people, catalog):
    result = latchkey("roles", name="alice")
    as_json = latchkey("roles", "--json", name="alice")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("analytics-readonly")
    assert "auto-approved" in result.stdout
    assert [role["slug"] for role in json.loads(as_json.stdout)] == ["analytics-readonly", "orders-readwrite"]


def test_request_wait_then_credentials_once_as_env_for_eval(latchkey, stack, worker, beat, people, catalog):
    requested = latchkey(
        "request", "analytics-readonly", "-d", "5m", "-j", WHY, "--wait", "--poll", "0.5", name="alice"
    )
    assert requested.returncode == 0, requested.stderr
    request_id = requested.stdout.strip()
    assert "active until" in requested.stderr

    shown = latchkey("credentials", request_id, "--format", "env", name="alice")
    again = latchkey("credentials", request_id, name="alice")

    assert shown.returncode == 0, shown.stderr
    script = f"{shown.stdout}\nexec {shlex.quote(sys.executable)} -c 'import psycopg; psycopg.connect().close()'"
    assert subprocess.run(["sh", "-c", script], check=False).returncode == 0
    assert again.returncode == 6
    assert "latchkey:" in again.stderr


@pytest.mark.parametrize("fmt", ["json", "uri", "pgpass", "text"])
def test_credentials_formats_carry_a_working_login(latchkey, stack, worker, beat, people, catalog, fmt):
    request_id = latchkey("request", "analytics-readonly", "-j", WHY, "--wait", "--poll", "0.5", name="alice").stdout

    shown = latchkey("credentials", request_id.strip(), "--format", fmt, name="alice")

    assert shown.returncode == 0, shown.stderr
    output = shown.stdout.strip()
    if fmt == "json":
        uri = json.loads(output)["connection_uri"]
    elif fmt == "uri":
        uri = output
    elif fmt == "pgpass":
        host, port, database, user, password = output.split(":")
        uri = psycopg.conninfo.make_conninfo(host=host, port=port, dbname=database, user=user, password=password)
    else:
        uri = dict(line.split(None, 1) for line in output.splitlines())["uri"]
    with psycopg.connect(stack.database_url("shop")) as admin:
        rows = admin.execute("SELECT count(*) FROM analytics").fetchone()[0]
    with psycopg.connect(uri, connect_timeout=5) as conn:
        # The login reads the table the role grants, all of it.
        assert rows > 0
        assert conn.execute("SELECT count(*) FROM analytics").fetchone()[0] == rows


def test_status_and_approve_and_revoke(latchkey, worker, beat, people, catalog):
    request_id = latchkey("request", "orders-readwrite", "-j", WHY, "--duration", "1h", name="alice").stdout.strip()

    pending = latchkey("status", request_id, name="alice")
    approved = latchkey("approve", request_id, "--comment", "fine", name="bob")
    wait_for_state(int(request_id), "active")
    revoked = latchkey("revoke", request_id, "--reason", "done early", name="alice")
    as_json = latchkey("status", request_id, "--json", name="alice")

    assert pending.returncode == 0 and "pending" in pending.stdout and "waiting for approval" in pending.stdout
    assert approved.returncode == 0, approved.stderr
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(as_json.stdout)["duration_minutes"] == 60
    grant = wait_for_state(int(request_id), "revoked")
    assert grant.revoke_reason == "done early"


def test_approving_ones_own_request_exits_4(latchkey, people, catalog):
    request_id = latchkey("request", "orders-readwrite", "-j", WHY, name="bob").stdout.strip()

    result = latchkey("approve", request_id, name="bob")

    assert result.returncode == 4
    assert "own request" in result.stderr
    assert AccessRequest.objects.get().state == "pending"


@pytest.mark.parametrize(
    ("args", "name", "status", "says"),
    [
        (["request", "no-such-role", "-j", WHY], "alice", 5, "no role"),
        (["request", "orders-admin", "-j", WHY], "erin", 4, "not in a group"),
        (["request", "orders-readwrite", "-j", "short"], "alice", 10, "justification"),
        (["request", "orders-readwrite", "-j", WHY, "-d", "99h"], "alice", 10, "duration_minutes"),
        (["request", "orders-readwrite", "-j", WHY, "-d", "soon"], "alice", 2, "not a duration"),
        (["status", "999999"], "alice", 5, "no request"),
        (["status", "abc"], "alice", 2, "not a request ID"),
        (["credentials", "1", "--format", "yaml"], "alice", 2, "invalid choice"),
    ],
)
def test_bad_input_gets_a_clear_message_and_its_exit_status(latchkey, people, catalog, args, name, status, says):
    result = latchkey(*args, name=name)

    assert result.returncode == status, result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_without_a_token_the_client_says_how_to_sign_in(latchkey, db):
    result = latchkey("roles")

    assert result.returncode == 3
    assert "LATCHKEY_TOKEN" in result.stderr


def test_a_refused_token_exits_3(latchkey, token_issuer, db):
    result = latchkey("roles", token=token_issuer.user_token("alice", aud="api://someone-else"))

    assert result.returncode == 3
    assert "access token could not be verified" in result.stderr
