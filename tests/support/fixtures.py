"""The shared fixtures of the test suite (a pytest plugin, listed in tests/conftest.py).

The demo personas and the demo catalog straight in the database (sign-in is tested
elsewhere), Celery in-process or as real processes on the stack. Each test folder's
conftest keeps only what that folder alone uses.
"""

import importlib
import uuid
from pathlib import Path

import pytest

from tests.support.clock import clock_at
from tests.support.personas import make_user

DEMO_CATALOG = Path(__file__).resolve().parents[2] / "portal" / "access" / "demo_catalog.yaml"


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def carol(db):
    return make_user("carol")


@pytest.fixture
def dave(db):
    return make_user("dave")


@pytest.fixture
def erin(db):
    return make_user("erin")


@pytest.fixture
def people(transactional_db):
    """Return the demo personas, created in a database that worker processes can see."""
    return {name: make_user(name) for name in ("alice", "bob", "carol", "dave", "erin")}


@pytest.fixture
def catalog(db):
    """Load the demo catalog: analytics-readonly, orders-readwrite, orders-admin.

    In a test that is transactional (`people`, `live_server`, `transaction=True`), `db` is too, so
    worker processes see the catalog.
    """
    from portal.access.catalog import catalog_import
    from portal.access.models import AccessRole

    catalog_import(DEMO_CATALOG.read_text(), source=str(DEMO_CATALOG))
    return {role.slug: role for role in AccessRole.objects.all()}


class _TaskRouting:
    """Stand in for `portal.core.queue.send`: hold some tasks back, run the rest in-process or send them on."""

    def __init__(self, send):
        self.send_to_broker = send
        self.in_process = False
        self.held_names: set[str] = set()
        self.held: list[tuple[str, tuple]] = []

    def __call__(self, task: str, *args, eta=None) -> None:
        if task in self.held_names:
            self.held.append((task, args))
        elif self.in_process:
            from portal.celery import app

            # Tasks are queued by name, and Celery sends a task named only by its name to the broker even
            # when eager: run the registered task itself (its module imported, as a worker would).
            importlib.import_module(task.rpartition(".")[0])
            app.tasks[task].apply_async(args=args, eta=eta)
        else:
            self.send_to_broker(task, *args, eta=eta)


@pytest.fixture
def task_routing(monkeypatch):
    """Route what the portal queues through one `_TaskRouting`, which `eager_tasks` and `vault_tasks_held` set."""
    from portal.core import queue

    routing = _TaskRouting(queue.send)
    monkeypatch.setattr(queue, "send", routing)
    return routing


@pytest.fixture
def sent(monkeypatch):
    """Keep what the portal queues from the broker; return it as it comes, as (task name, arguments)."""
    from portal.core import queue

    tasks = []
    monkeypatch.setattr(queue, "send", lambda task, *args, eta=None: tasks.append((task.rsplit(".", 1)[1], args)))
    return tasks


@pytest.fixture
def eager_tasks(settings, task_routing):
    """Run Celery tasks in-process and send e-mail to Django's locmem outbox."""
    from portal.celery import app

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    task_routing.in_process = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def vault_tasks_held(task_routing):
    """Keep issuing and revoking queued, even with `eager_tasks`: their Vault side is tested on the real stack.

    Return the (task, args) held back, in order.
    """
    task_routing.held_names |= {"portal.access.tasks.issue_grant", "portal.access.tasks.revoke_grant"}
    return task_routing.held


@pytest.fixture
def worker(celery_worker):
    """Return the shared test worker, running."""
    return celery_worker


@pytest.fixture
def beat(stack, portal_env, worker):
    """Run Celery beat (the sweeper) for one test."""
    process = stack.start_beat(portal_env, name="test-beat")
    yield process
    stack.stop_process("test-beat")


@pytest.fixture
def own_rate_limit_counters(settings):
    """Count rate limits under a key prefix of this test only, so no test is throttled by another's calls."""
    caches = {name: dict(config) for name, config in settings.CACHES.items()}
    caches[settings.RATE_LIMIT_CACHE]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches


@pytest.fixture
def one_rate_window(own_rate_limit_counters):
    """Count a test's calls in one window of each rate: the portal's clock stands still, even at a minute's turn."""
    with clock_at():
        yield
