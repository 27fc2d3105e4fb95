"""The launcher starts a worker or beat again when it exits (as compose's `restart: unless-stopped` does)."""

import os
import signal
import socket
import time
from pathlib import Path

import pytest
from kombu import pools

from portal.celery import app
from portal.devstack.processes import Process
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WORKER = "supervised-worker"
BEAT = "supervised-beat"


def answers(name: str) -> bool:
    return bool(app.control.ping(destination=[f"{name}@{socket.gethostname()}"], timeout=1))


def in_process_group(group: int) -> list[int]:
    """Return the live processes of process group `group` (a zombie is not live)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.getpgid(int(entry.name)) == group:
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry.name))
        except (ProcessLookupError, FileNotFoundError):
            continue
    return found


def supervised_until(stack, condition, *, timeout_seconds: float) -> list[str]:
    """Supervise the stack, as `make demo` does, until `condition` holds; return the names restarted meanwhile."""
    restarted = []

    def check() -> bool:
        again, dead = stack.supervise()
        restarted.extend(again)
        assert WORKER not in dead and BEAT not in dead
        return condition()

    assert wait_until(check, timeout_seconds=timeout_seconds, interval=0.25)
    return restarted


@pytest.fixture
def supervised(stack, portal_env):
    """Start a worker and a beat that the launcher restarts, as `make demo` starts them; stop them afterwards."""
    worker = stack.start_worker(portal_env, name=WORKER, restart=True)
    beat = stack.start_beat(portal_env, name=BEAT, restart=True)
    assert wait_until(lambda: answers(WORKER), timeout_seconds=120), worker.log_tail()
    yield worker, beat
    stack.stop_process(BEAT)
    stack.stop_process(WORKER)


def test_a_killed_worker_is_started_again_and_answers(stack, supervised):
    worker, _ = supervised
    first = worker.pid

    pool = [pid for pid in in_process_group(first) if pid != first]
    os.kill(first, signal.SIGKILL)
    restarted = supervised_until(stack, lambda: worker.restarts == 1, timeout_seconds=30)
    pool_gone = wait_until(lambda: not [pid for pid in pool if pid in in_process_group(first)], timeout_seconds=10)
    supervised_until(stack, lambda: answers(WORKER), timeout_seconds=120)

    assert pool, "the worker runs its pool in processes of its group"
    assert pool_gone, "the killed worker's pool processes went with it"
    assert restarted == [WORKER]
    assert worker.pid != first and not worker.exited()
    assert "restart 1" in worker.log_path.read_text()


def test_a_killed_beat_is_started_again(stack, supervised):
    _, beat = supervised
    first = beat.pid

    os.kill(first, signal.SIGKILL)
    restarted = supervised_until(stack, lambda: beat.restarts == 1, timeout_seconds=30)

    assert restarted == [BEAT]
    assert beat.pid != first
    assert wait_until(lambda: "beat: Starting" in beat.log_path.read_text().split("restart 1")[-1], timeout_seconds=60)
    assert not beat.exited()


def test_a_worker_and_beat_outlive_a_redis_restart(stack, supervised):
    worker, beat = supervised

    stack.restart_redis()
    # This process's broker connections died with Redis: start fresh pools, as Celery does after a fork.
    pools.reset()
    app._after_fork()

    supervised_until(stack, lambda: answers(WORKER), timeout_seconds=120)
    assert not worker.exited() and not beat.exited()


def test_a_process_that_keeps_exiting_is_started_again_ever_more_slowly(tmp_path):
    failing = Process("always-fails", ["sh", "-c", "exit 3"], log_dir=tmp_path, restart=True).start()
    started_at = [time.monotonic()]

    deadline = time.monotonic() + 30
    while failing.restarts < 4 and time.monotonic() < deadline:
        if failing.revive():
            started_at.append(time.monotonic())
        time.sleep(0.01)

    gaps = [later - earlier for earlier, later in zip(started_at, started_at[1:], strict=False)]
    assert failing.restarts == 4
    assert gaps[0] >= 0.5
    assert all(later > earlier * 1.5 for earlier, later in zip(gaps, gaps[1:], strict=False)), gaps
    assert failing.log_path.read_text().count("exited with code 3") == 4
