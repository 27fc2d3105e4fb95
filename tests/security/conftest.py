"""Security tests: rate-limit counters of their own for each test (personas and catalog: tests/support)."""

import uuid

import pytest
from django.test import Client

WHY = "Investigating the late orders of ticket OPS-12"


@pytest.fixture(autouse=True)
def own_rate_limit_counters(settings):
    """Count rate limits under a key prefix of this test only, so no test is throttled by another's calls."""
    caches = {name: dict(config) for name, config in settings.CACHES.items()}
    caches[settings.RATE_LIMIT_CACHE]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches


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
