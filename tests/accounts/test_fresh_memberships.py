"""Requests and approvals need memberships read recently: a stale user must sign in again."""

from datetime import timedelta

import pytest
from django.conf import settings

from portal.accounts.models import Profile
from portal.core.clock import now
from portal.devstack import tenant
from tests.support.sign_in import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]


def _make_stale(name):
    age = timedelta(seconds=settings.GROUPS_MAX_AGE_SECONDS + 60)
    Profile.objects.filter(oid=tenant.USERS[name].oid).update(groups_read_at=now() - age)


def test_a_fresh_approver_reaches_the_approve_page(client, stack):
    sign_in(client, "bob")

    assert client.get("/approve").content == b"approved"


def test_a_stale_approver_is_sent_to_sign_in_again_and_back(client, stack):
    sign_in(client, "bob")
    _make_stale("bob")

    response = client.get("/approve")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/approve"
    assert "Sign in again" in client.get(response["Location"]).content.decode()


def test_signing_in_again_makes_the_memberships_fresh(client, stack):
    sign_in(client, "bob")
    _make_stale("bob")
    sign_in(client, "bob")

    assert client.get("/approve").content == b"approved"


def test_a_stale_user_gets_401_memberships_stale_from_an_api_function_view(client, stack):
    sign_in(client, "bob")
    _make_stale("bob")

    response = client.post("/api/approve")

    assert response.status_code == 401
    assert response.json()["error"] == "memberships_stale"
    assert "sign in again" in response.json()["detail"].lower()


def test_a_stale_user_gets_401_memberships_stale_from_an_api_class_view(client, stack):
    sign_in(client, "alice")
    _make_stale("alice")

    response = client.post("/api/request")

    assert response.status_code == 401
    assert response.json()["error"] == "memberships_stale"


def test_a_fresh_user_passes_the_api_checks(client, stack):
    sign_in(client, "alice")

    assert client.post("/api/request").json() == {"requested": True}
    assert client.post("/api/approve").json() == {"approved": True}


def test_an_anonymous_caller_gets_401_not_authenticated_from_the_api(client):
    assert client.post("/api/request").json()["error"] == "not_authenticated"
    assert client.post("/api/approve").json()["error"] == "not_authenticated"


def test_an_anonymous_visitor_of_the_approve_page_is_sent_to_sign_in(client):
    assert client.get("/approve")["Location"] == "/login/?next=/approve"
