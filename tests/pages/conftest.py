"""Page tests with Django's test client: the personas and the demo catalog straight in the database."""

import pytest
from django.test import Client

from tests.access.conftest import alice, bob, carol, dave, erin  # noqa: F401

WHY = "Investigate the late orders of ticket OPS-12"


@pytest.fixture
def catalog(db):
    """Load the demo catalog: analytics-readonly, orders-readwrite, orders-admin."""
    from portal.access.catalog import catalog_import
    from portal.access.models import AccessRole
    from tests.access.conftest import DEMO_CATALOG

    catalog_import(DEMO_CATALOG.read_text(), source=str(DEMO_CATALOG))
    return {role.slug: role for role in AccessRole.objects.all()}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def ask(user, role: str = "orders-readwrite", justification: str = WHY, **fields):
    from portal.access import services

    return services.request_create(actor=user, role=role, justification=justification, **fields)
