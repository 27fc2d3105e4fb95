"""Test harness: the real local stack (PostgreSQL, Redis, OpenBao, the Entra stand-in) on free ports.

The ports and secrets are chosen when pytest starts, so Django's settings point at
the stack from the first import; the services themselves start on first use (the
`stack` session fixture) and stop when the session ends.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from portal.devstack.processes import take_share_of_ports
from portal.devstack.stack import Ports, Stack
from tests.support.workers import WORKER, running_test_worker

# The shared fixtures: one home, tests/support, for every folder's tests.
pytest_plugins = ["tests.support.fixtures", "tests.support.sign_in", "tests.support.entra"]

_STACK = pytest.StashKey[Stack]()
TEST_DATABASE = "test_latchkey"


def pytest_configure(config):
    # `make test` runs the suite in parallel processes (pytest-xdist), each with a stack of its own.
    # The process that hands them the tests runs none. Its environment becomes theirs, so it names no
    # settings (importing the Celery app sets a default): each sets Django up after its stack's settings.
    worker = getattr(config, "workerinput", None)
    if worker is None and config.getoption("dist", "no") != "no":
        os.environ.pop("DJANGO_SETTINGS_MODULE", None)
        return
    if worker is not None:
        take_share_of_ports(int(worker["workerid"].removeprefix("gw")), int(worker["workercount"]))
    state_dir = Path(tempfile.mkdtemp(prefix="latchkey-test-"))
    stack = Stack(state_dir=state_dir, ports=Ports.free(), fast=True)
    config.stash[_STACK] = stack
    os.environ.update(stack.portal_env())
    # Hundreds of sign-ins and requests come from one address within minutes; the tests of the
    # limits themselves set their own rates.
    for scope in ("SIGN_IN", "REQUEST_CREATE", "APPROVAL", "REVEAL"):
        os.environ.setdefault(f"RATE_LIMIT_{scope}", "1000000/m")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    import django

    django.setup()
    from tests.support import flush

    flush.install()


def pytest_collection_modifyitems(items):
    """Put the files of the long tests first: in parallel, the other processes' tests fill their waits."""
    long_files = {item.path for item in items if item.get_closest_marker("long")}
    items.sort(key=lambda item: item.path not in long_files)


def pytest_unconfigure(config):
    stack = config.stash.get(_STACK, None)
    if stack is not None:
        stack.stop()
        if not os.environ.get("LATCHKEY_KEEP_TEST_STATE"):
            shutil.rmtree(stack.state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(pytestconfig) -> Stack:
    """Return the running local stack, starting it on first use."""
    stack = pytestconfig.stash[_STACK]
    if not stack.processes:
        stack.start()
    return stack


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """Keep the test database's name in every parallel process: each has a PostgreSQL of its own."""


@pytest.fixture(scope="session")
def django_db_setup(stack, django_db_setup):
    """Create the test database in the stack's PostgreSQL; stop the shared worker before it is dropped."""
    yield
    # The worker keeps a connection to the test database, and PostgreSQL drops no database that is in use.
    stack.stop_process(WORKER)


@pytest.fixture(scope="session")
def portal_env(stack) -> dict[str, str]:
    """Return the environment of portal processes (worker, beat, web) that use the test database."""
    return stack.portal_env(database=TEST_DATABASE)


@pytest.fixture(autouse=True)
def _forget_audit_anchor(pytestconfig):
    """Delete the audit anchor in Vault after each test: the test database it names is emptied."""
    yield
    stack = pytestconfig.stash[_STACK]
    if "openbao" not in stack.processes:
        return
    from django.conf import settings

    from portal.integrations.vault_setup import VaultAdmin, VaultSetupError

    try:
        VaultAdmin(stack.vault_addr, stack.vault_root_token).call(
            "DELETE", f"{settings.AUDIT_ANCHOR_MOUNT}/metadata/head"
        )
    except VaultSetupError:
        pass  # a dev server that is down forgets everything anyway: it starts again without an anchor


@pytest.fixture
def celery_worker(stack, django_db_setup, portal_env):
    """Return a real Celery worker on the stack's Redis, using the test database (started on first use)."""
    return running_test_worker(stack, portal_env)
