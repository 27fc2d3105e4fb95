"""The README's `latchkey` examples run as written against the demo stack, with the demo's access tokens.

The tokens come from `python -m portal.devstack token NAME`, as `make demo` tells its user; the
portal verifies them against the Entra stand-in's key set. Each example runs in a shell; only the
request ID `12` is replaced by the real one, and the `./manage.py migrate` of `latchkey run` is a
small script of the caller's own that uses the credentials it is given.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from portal.access.models import AccessRequest
from tests.support.grants import wait_for_state
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

README = Path(__file__).resolve().parents[2] / "README.md"
BIN = Path(sys.executable).parent
APP_MIGRATE = f"""#!{sys.executable}
import os, psycopg
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    conn.execute("UPDATE orders SET status = status WHERE id = 1")
    print("migrated", conn.execute("SELECT count(*) FROM orders").fetchone()[0], "orders")
"""


def readme_examples() -> dict[str, str]:
    """Return the README's `latchkey` examples, keyed by their verb (`eval` for the `eval "$(...)"` line)."""
    section = README.read_text().split("### The `latchkey` command", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    examples = {}
    for line in block.splitlines():
        command = line.split("  #", 1)[0].strip()
        verb = "eval" if command.startswith("eval ") else command.split()[1]
        assert verb not in examples, f"two README examples of {verb}"
        examples[verb] = command
    return examples


@pytest.fixture
def demo_shell(stack, live_server, tmp_path):
    """Return a function that runs one example in a shell as demo person `name`, with the demo's token."""
    (tmp_path / "manage.py").write_text(APP_MIGRATE)
    (tmp_path / "manage.py").chmod(0o755)

    def token(name: str) -> str:
        made = subprocess.run(
            [sys.executable, "-m", "portal.devstack", "token", name, "--state-dir", str(stack.state_dir)]
            + ["--issuer", stack.issuer],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return made.stdout.strip()

    def run(command: str, *, name: str, request_id: int | None = None, background: bool = False):
        if request_id is not None:
            command = re.sub(r"\b12\b", str(request_id), command)
        env = {key: value for key, value in os.environ.items() if not key.startswith("LATCHKEY_")}
        env |= {"PATH": f"{BIN}:{env['PATH']}", "LATCHKEY_URL": live_server.url, "LATCHKEY_TOKEN": token(name)}
        argv = ["sh", "-c", command]
        if background:
            pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
            return subprocess.Popen(argv, cwd=tmp_path, env=env, text=True, **pipes)
        return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False)

    return run


def approve_when_pending(run, example: str, role: str = "orders-readwrite") -> int:
    """Wait for alice's pending request of `role`; approve it as bob with the README's example; return its ID."""
    assert wait_until(
        lambda: AccessRequest.objects.filter(role__slug=role, state="pending").exists(), timeout_seconds=60
    )
    request_id = AccessRequest.objects.get(role__slug=role, state="pending").pk
    approved = run(example, name="bob", request_id=request_id)
    assert approved.returncode == 0, approved.stderr
    return request_id


def finished(process: subprocess.Popen, timeout: float = 180) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


@pytest.mark.long
def test_every_readme_example_runs_as_written_against_the_demo(demo_shell, worker, beat, people, catalog):
    run, examples = demo_shell, readme_examples()
    assert set(examples) == {"roles", "request", "status", "approve", "credentials", "eval", "revoke", "run"}

    roles = run(examples["roles"], name="alice")
    assert roles.returncode == 0, roles.stderr
    assert "orders-readwrite" in roles.stdout

    # Requested and waited for by alice, approved by bob meanwhile, as an approver does.
    requesting = run(examples["request"], name="alice", background=True)
    assert wait_until(lambda: AccessRequest.objects.filter(state="pending").exists(), timeout_seconds=60)
    first = AccessRequest.objects.get(state="pending").pk
    status = run(examples["status"], name="alice", request_id=first)
    assert status.returncode == 0 and "pending" in status.stdout, status.stderr
    approve_when_pending(run, examples["approve"])
    code, stdout, stderr = finished(requesting)
    assert code == 0, stderr
    assert stdout.strip() == str(first)

    shown = run(examples["credentials"], name="alice", request_id=first)
    assert shown.returncode == 0, shown.stderr
    assert "password" in shown.stdout
    revoked = run(examples["revoke"], name="alice", request_id=first)
    assert revoked.returncode == 0, revoked.stderr
    wait_for_state(first, "revoked")

    # The `eval` example needs credentials not yet shown: a second grant, asked for the same way.
    requesting = run(examples["request"], name="alice", background=True)
    second = approve_when_pending(run, examples["approve"])
    assert finished(requesting)[0] == 0
    connected = run(
        examples["eval"] + f" && exec {sys.executable} -c 'import psycopg; psycopg.connect().close()'",
        name="alice",
        request_id=second,
    )
    assert connected.returncode == 0, connected.stderr
    assert run(examples["revoke"], name="alice", request_id=second).returncode == 0
    wait_for_state(second, "revoked")

    running = run(examples["run"], name="alice", background=True)
    third = approve_when_pending(run, examples["approve"])
    code, stdout, stderr = finished(running)
    assert code == 0, stderr
    assert re.search(r"migrated \d+ orders", stdout)
    # `latchkey run` revokes the grant when the command exits.
    assert wait_for_state(third, "revoked").state == "revoked"
