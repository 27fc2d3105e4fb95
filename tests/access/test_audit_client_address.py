"""The history records the client's own address: the one the trusted proxies vouch for, not a proxy's."""

import pytest
from django.test import Client

from portal.access.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db
WHY = "Investigate the late orders of ticket OPS-12"


def _ask(alice, **headers):
    client = Client(REMOTE_ADDR="10.0.0.7", **headers)
    client.force_login(alice)
    response = client.post("/api/v1/requests", {"role": "orders-readwrite", "justification": WHY}, "application/json")
    assert response.status_code == 201, response.content
    return AuditEvent.objects.get(request_id=response.json()["id"], action=AuditAction.REQUEST_CREATED)


def test_behind_a_trusted_proxy_the_history_names_the_client(alice, catalog, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    event = _ask(alice, HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert event.ip == "203.0.113.9"


def test_a_forwarded_header_from_an_untrusted_caller_is_not_believed(alice, catalog, settings):
    settings.TRUSTED_PROXIES = []

    event = _ask(alice, HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert event.ip == "10.0.0.7"
