"""A deactivated person is out at once: their sessions stop working and their tokens are refused."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from portal.accounts.models import Profile
from portal.devstack import tenant
from tests.support.entra import bearer, token_issuer  # noqa: F401
from tests.support.sign_in import sign_in, signed_in_user_id

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def _deactivate(name: str) -> None:
    get_user_model().objects.filter(profile__oid=tenant.USERS[name].oid).update(is_active=False)


def test_a_deactivated_persons_browser_session_stops_at_the_next_page(client, stack):
    sign_in(client, "alice")
    assert client.get("/access/").status_code == 200

    _deactivate("alice")
    response = client.get("/access/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_deactivated_persons_session_is_refused_by_the_api(alice):  # noqa: F811
    client = Client()
    client.force_login(alice)
    assert client.get("/api/v1/me").status_code == 200

    _deactivate("alice")
    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_a_deactivated_person_cannot_sign_in_again_and_nothing_of_theirs_changes(client, stack):
    sign_in(client, "alice")
    Profile.objects.filter(oid=tenant.USERS["alice"].oid).update(display_name="Alice (left)", groups=[])
    _deactivate("alice")
    client.logout()

    response = sign_in(client, "alice")

    assert response.status_code == 403
    assert signed_in_user_id(client) is None
    profile = Profile.objects.get(oid=tenant.USERS["alice"].oid)
    assert profile.display_name == "Alice (left)"
    assert profile.groups == []


def test_a_deactivated_persons_bearer_token_is_refused(token_issuer, alice, catalog):  # noqa: F811
    token = token_issuer.user_token("alice", preferred_username="alice.renamed@contoso.example")
    _deactivate("alice")

    me = Client().get("/api/v1/me", **bearer(token))
    created = Client().post(
        "/api/v1/requests",
        {"role": "analytics-readonly", "justification": "Check the nightly totals"},
        content_type="application/json",
        **bearer(token),
    )

    for response in (me, created):
        assert response.status_code == 403, response.content
        assert response.json()["error"] == "invalid_token"
    assert Profile.objects.get(oid=tenant.USERS["alice"].oid).upn == "alice@contoso.example"


def test_a_deactivated_applications_token_is_refused(token_issuer):  # noqa: F811
    token = token_issuer.app_token()
    assert Client().get("/api/v1/me", **bearer(token)).status_code == 200
    get_user_model().objects.filter(profile__is_application=True).update(is_active=False)

    response = Client().get("/api/v1/me", **bearer(token))

    assert response.status_code == 403, response.content
