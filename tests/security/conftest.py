"""Security tests: rate-limit counters of their own for each test (personas and catalog: tests/support)."""

import pytest
from django.test import Client

WHY = "Investigating the late orders of ticket OPS-12"


@pytest.fixture(autouse=True)
def _own_rate_limit_counters(own_rate_limit_counters):
    """Every security test counts its rate limits apart from the others' (see tests/support/fixtures.py)."""


def client_for(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def api_post(client, path: str, body=None):
    return client.post(f"/api/v1/{path}", body or {}, content_type="application/json")


def ask(client, role: str = "orders-readwrite", **body):
    return api_post(client, "requests", {"role": role, "justification": WHY, **body})


@pytest.fixture
def unlimited(settings):
    """Lift the rate limits for tests that make many calls on purpose."""
    settings.RATE_LIMITS = {scope: "1000000/m" for scope in settings.RATE_LIMITS}
