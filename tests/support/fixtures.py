"""The shared fixtures of the test suite (a pytest plugin, listed in tests/conftest.py).

The demo personas and the demo catalog straight in the database (sign-in is tested
elsewhere), Celery in-process or as real processes on the stack. Each test folder's
conftest keeps only what that folder alone uses.
"""

from pathlib import Path

import pytest

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


@pytest.fixture
def eager_tasks(settings):
    """Run Celery tasks in-process and send e-mail to Django's locmem outbox."""
    from portal.celery import app

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


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
