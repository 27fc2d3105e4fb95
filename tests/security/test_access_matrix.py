"""Who may do what: every endpoint and page against every persona, in one table.

alice asked for orders-readwrite (bob and carol approve it); dave asked for orders-admin.
dave and erin may not even see alice's request: for them it does not exist (404).
"""

import json
from datetime import timedelta

import pytest
from django.test import Client

from portal.access import services
from portal.access.models import AccessRequest
from portal.accounts.models import Profile
from portal.core.clock import now
from portal.devstack import tenant
from tests.security.conftest import WHY, client_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

PERSONAS = ["alice", "bob", "carol", "dave", "erin", "anonymous"]
LOGIN = 302  # a page sends the anonymous visitor to sign in


def row(method, path, alice, bob, carol, dave, erin, anonymous, body=None):
    return (method, path, dict(zip(PERSONAS, (alice, bob, carol, dave, erin, anonymous), strict=True)), body)


DENY = {"comment": "Not this week"}
BULK = {"role": "orders-readwrite", "reason": "Incident 42"}

# method, path ({mine}: alice's pending request), then alice, bob, carol, dave, erin, anonymous.
MATRIX = [
    # Pages
    row("GET", "/", 200, 200, 200, 200, 200, LOGIN),
    row("GET", "/access/", 200, 200, 200, 200, 200, LOGIN),
    row("GET", "/access/requests/new/orders-readwrite/", 200, 200, 404, 404, 404, LOGIN),
    row("GET", "/access/requests/new/orders-admin/", 404, 404, 404, 200, 404, LOGIN),
    row("GET", "/access/requests/{mine}/", 200, 200, 200, 404, 404, LOGIN),
    row("GET", "/access/requests/{mine}/live/", 200, 200, 200, 404, 404, LOGIN),
    row("GET", "/access/requests/{mine}/extend/", 200, 200, 200, 404, 404, LOGIN),
    row("GET", "/access/review/", 200, 200, 200, 200, 200, LOGIN),
    row("GET", "/access/grants/", 403, 403, 200, 403, 403, LOGIN),
    row("GET", "/access/audit/", 403, 403, 200, 403, 403, LOGIN),
    row("GET", "/access/audit/export.csv", 403, 403, 200, 403, 403, LOGIN),
    row("GET", "/access/audit/export.json", 403, 403, 200, 403, 403, LOGIN),
    row("GET", "/access/dashboard/", 403, 403, 200, 403, 403, LOGIN),
    row("GET", "/health/", 403, 403, 200, 403, 403, LOGIN),
    # Page actions (they answer with a redirect to the request and say why in a message)
    row("POST", "/access/requests/{mine}/approve/", 302, 302, 302, 404, 404, LOGIN),
    row("POST", "/access/requests/{mine}/deny/", 302, 302, 302, 404, 404, LOGIN, DENY),
    row("POST", "/access/requests/{mine}/cancel/", 302, 302, 302, 404, 404, LOGIN),
    row("POST", "/access/requests/{mine}/reveal/", 302, 302, 302, 404, 404, LOGIN),
    row("POST", "/access/requests/{mine}/revoke/", 302, 302, 302, 404, 404, LOGIN),
    row("POST", "/access/grants/revoke/", 403, 403, 302, 403, 403, LOGIN, {"role": "{role}", "reason": "x"}),
    # Method tampering on pages
    row("GET", "/access/requests/{mine}/approve/", 405, 405, 405, 405, 405, LOGIN),
    row("GET", "/access/requests/{mine}/reveal/", 405, 405, 405, 405, 405, LOGIN),
    row("GET", "/access/grants/revoke/", 405, 405, 405, 405, 405, LOGIN),
    # API reads
    row("GET", "/api/v1/me", 200, 200, 200, 200, 200, 401),
    row("GET", "/api/v1/roles", 200, 200, 200, 200, 200, 401),
    row("GET", "/api/v1/requests", 200, 200, 200, 200, 200, 401),
    row("GET", "/api/v1/requests?scope=to_review", 200, 200, 200, 200, 200, 401),
    row("GET", "/api/v1/requests?scope=all", 403, 403, 200, 403, 403, 401),
    row("GET", "/api/v1/requests/{mine}", 200, 200, 200, 404, 404, 401),
    row("GET", "/api/v1/audit", 403, 403, 200, 403, 403, 401),
    # The schema describes the contract only, no data: it is public, like the docs that render it.
    row("GET", "/api/v1/schema/", 200, 200, 200, 200, 200, 200),
    # API actions
    row("POST", "/api/v1/requests/{mine}/approve", 403, 200, 200, 404, 404, 401),
    row("POST", "/api/v1/requests/{mine}/deny", 403, 200, 200, 404, 404, 401, DENY),
    row("POST", "/api/v1/requests/{mine}/cancel", 200, 403, 403, 404, 404, 401),
    row("POST", "/api/v1/requests/{mine}/credentials", 409, 403, 403, 404, 404, 401),
    # bob may see the request (he approves it) and learns only that it is not active.
    row("POST", "/api/v1/requests/{mine}/revoke", 409, 409, 409, 404, 404, 401),
    row("POST", "/api/v1/requests/{mine}/extend", 409, 403, 403, 404, 404, 401, {"justification": WHY}),
    row("POST", "/api/v1/grants/revoke", 403, 403, 200, 403, 403, 401, BULK),
    # Method tampering on the API
    row("GET", "/api/v1/requests/{mine}/approve", 405, 405, 405, 405, 405, 401),
    row("GET", "/api/v1/requests/{mine}/credentials", 405, 405, 405, 405, 405, 401),
    row("PUT", "/api/v1/requests/{mine}", 405, 405, 405, 405, 405, 401),
    row("PATCH", "/api/v1/requests/{mine}", 405, 405, 405, 405, 405, 401),
    row("DELETE", "/api/v1/requests/{mine}", 405, 405, 405, 405, 405, 401),
    row("DELETE", "/api/v1/audit", 405, 405, 405, 405, 405, 401),
]

CASES = [
    pytest.param(method, path, persona, statuses[persona], body, id=f"{method} {path} as {persona}")
    for method, path, statuses, body in MATRIX
    for persona in PERSONAS
]


def _call(client, method: str, path: str, body):
    if path.startswith("/api/"):
        return client.generic(method, path, json.dumps(body or {}), "application/json")
    if method == "POST":
        return client.post(path, body or {})
    return client.generic(method, path)


@pytest.mark.parametrize(("method", "path", "persona", "expected", "body"), CASES)
def test_every_endpoint_answers_each_persona_as_the_table_says(
    method, path, persona, expected, body, alice, bob, carol, dave, erin, catalog
):
    people = {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "erin": erin}
    mine = services.request_create(actor=alice, role="orders-readwrite", justification=WHY, duration_minutes=30)
    services.request_create(actor=dave, role="orders-admin", justification=WHY, ticket="OPS-7")
    values = {"mine": mine.pk, "role": catalog["orders-readwrite"].pk}
    path = path.format(**values)
    if body is not None:
        body = {key: value.format(**values) if isinstance(value, str) else value for key, value in body.items()}
    client = Client() if persona == "anonymous" else client_for(people[persona])
    state_before = AccessRequest.objects.get(pk=mine.pk).state

    response = _call(client, method, path, body)

    assert response.status_code == expected, response.content[:300]
    if path.startswith("/api/") and expected >= 400:
        assert set(response.json()) >= {"error", "detail"}
    if expected in (401, 403, 404, 405):
        # A refused call changes nothing.
        assert AccessRequest.objects.get(pk=mine.pk).state == state_before


def test_an_approver_removed_from_the_approver_group_can_no_longer_approve(alice, bob, catalog):
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    Profile.objects.filter(user=bob).update(groups=[tenant.GROUPS["orders-engineers"]])

    response = client_for(bob).post(f"/api/v1/requests/{request.pk}/approve", {}, content_type="application/json")

    assert response.status_code in (403, 404)
    assert AccessRequest.objects.get(pk=request.pk).state == "pending"


def test_an_approver_whose_memberships_are_stale_must_sign_in_again_to_approve(settings, alice, bob, catalog):
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    Profile.objects.filter(user=bob).update(
        groups_read_at=now() - timedelta(seconds=settings.GROUPS_MAX_AGE_SECONDS + 60)
    )

    response = client_for(bob).post(f"/api/v1/requests/{request.pk}/approve", {}, content_type="application/json")

    assert response.status_code == 403
    assert AccessRequest.objects.get(pk=request.pk).state == "pending"


def test_an_approver_cannot_approve_their_own_request(bob, catalog):
    request = services.request_create(actor=bob, role="orders-readwrite", justification=WHY)

    response = client_for(bob).post(f"/api/v1/requests/{request.pk}/approve", {}, content_type="application/json")

    assert response.status_code == 403
    assert AccessRequest.objects.get(pk=request.pk).state == "pending"


def test_nobody_reads_another_persons_request_by_guessing_its_number(alice, dave, erin, catalog):
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    unknown = client_for(erin).get(f"/api/v1/requests/{request.pk + 1000}")

    for person in (dave, erin):
        hidden = client_for(person).get(f"/api/v1/requests/{request.pk}")
        # The same answer as for a number that does not exist: nothing to learn from it.
        assert (
            (hidden.status_code, hidden.json()["error"])
            == (unknown.status_code, unknown.json()["error"])
            == (
                404,
                "not_found",
            )
        )
        assert client_for(person).post(f"/api/v1/requests/{request.pk}/credentials").status_code == 404
