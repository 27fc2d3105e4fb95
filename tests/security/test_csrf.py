"""Every POST made with the session cookie needs the CSRF token: missing or wrong, it is refused with 403."""

import json

import pytest

from portal.access import services
from portal.access.models import AccessRequest
from tests.security.conftest import WHY, client_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

# path ({mine}: alice's pending request), who posts it, body; each is allowed for that persona.
POSTS = [
    ("/access/requests/new/orders-readwrite/", "alice", {"duration_minutes": 30, "start": "now", "justification": WHY}),
    ("/access/requests/{mine}/approve/", "carol", {"comment": ""}),
    ("/access/requests/{mine}/deny/", "carol", {"comment": "Not this week"}),
    ("/access/requests/{mine}/cancel/", "alice", {}),
    ("/access/requests/{mine}/extend/", "alice", {"duration_minutes": 10, "justification": WHY}),
    ("/access/requests/{mine}/reveal/", "alice", {}),
    ("/access/requests/{mine}/revoke/", "carol", {"reason": "Incident 42"}),
    ("/access/grants/revoke/", "carol", {"role": "{role}", "reason": "Incident 42"}),
    ("/oidc/logout/", "alice", {}),
    ("/api/v1/requests", "alice", {"role": "analytics-readonly", "justification": WHY}),
    ("/api/v1/requests/{mine}/approve", "carol", {}),
    ("/api/v1/requests/{mine}/deny", "carol", {"comment": "Not this week"}),
    ("/api/v1/requests/{mine}/cancel", "alice", {}),
    ("/api/v1/requests/{mine}/extend", "alice", {"justification": WHY}),
    ("/api/v1/requests/{mine}/revoke", "carol", {}),
    ("/api/v1/requests/{mine}/credentials", "alice", {}),
    ("/api/v1/grants/revoke", "carol", {"role": "orders-readwrite", "reason": "Incident 42"}),
]


def _post(client, path: str, body: dict, token: str | None):
    headers = {"HTTP_X_CSRFTOKEN": token} if token is not None else {}
    if path.startswith("/api/"):
        return client.post(path, json.dumps(body), content_type="application/json", **headers)
    if token is not None:
        body = {**body, "csrfmiddlewaretoken": token}
    return client.post(path, body)


@pytest.fixture
def setup(alice, bob, carol, catalog):
    mine = services.request_create(actor=alice, role="orders-readwrite", justification=WHY, duration_minutes=30)
    people = {"alice": alice, "carol": carol}
    values = {"mine": mine.pk, "role": catalog["orders-readwrite"].pk}

    def prepare(path: str, persona: str, body: dict):
        client = client_for(people[persona], enforce_csrf_checks=True)
        # Any page with a form hands out the CSRF cookie.
        client.get("/access/")
        body = {key: value.format(**values) if isinstance(value, str) else value for key, value in body.items()}
        return client, path.format(**values), body

    return mine, prepare


@pytest.mark.parametrize(("path", "persona", "body"), POSTS, ids=[path for path, _, _ in POSTS])
@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_a_post_without_the_right_csrf_token_is_refused_and_changes_nothing(setup, path, persona, body, token):
    mine, prepare = setup
    client, path, body = prepare(path, persona, body)
    sent = None if token == "missing" else "x" * 32

    response = _post(client, path, body, sent)

    assert response.status_code == 403
    assert AccessRequest.objects.get(pk=mine.pk).state == "pending"
    assert AccessRequest.objects.count() == 1
    assert client.session.get("_auth_user_id") is not None


@pytest.mark.parametrize(("path", "persona", "body"), POSTS, ids=[path for path, _, _ in POSTS])
def test_the_same_post_with_the_right_csrf_token_gets_past_the_check(setup, path, persona, body):
    _, prepare = setup
    client, path, body = prepare(path, persona, body)

    response = _post(client, path, body, client.cookies["csrftoken"].value)

    assert response.status_code != 403, response.content[:300]
