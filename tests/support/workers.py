"""The shared Celery worker of the test session: started on demand, since some tests stop or kill it."""

import time

import pytest

WORKER = "test-worker"


def start_test_worker(stack, portal_env):
    """Start the shared test worker and wait until it answers (its start is slow on a busy machine)."""
    from portal.celery import app

    process = stack.start_worker(portal_env, name=WORKER)
    deadline = time.monotonic() + 120
    while not app.control.ping(timeout=1):
        if process.exited() or time.monotonic() > deadline:
            pytest.fail(f"The test worker did not start:\n{process.log_tail()}")
    return process


def running_test_worker(stack, portal_env):
    """Return the shared test worker, starting it again if a test stopped or killed it."""
    process = stack.processes.get(WORKER)
    if process is None or process.exited():
        stack.stop_process(WORKER)
        process = start_test_worker(stack, portal_env)
    return process
