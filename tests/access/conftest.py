"""Personas of the demo tenant and the demo catalog, straight in the database (sign-in is tested elsewhere)."""

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
def catalog(db):
    """Load the demo catalog: analytics-readonly, orders-readwrite, orders-admin."""
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
