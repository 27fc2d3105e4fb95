"""Requests and approvals need memberships read recently: a stale person must sign in again, on pages and in the API."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client

from portal.access.models import AccessRequest
from portal.accounts.models import Profile
from portal.core.clock import now
from portal.devstack import tenant
from tests.support.sign_in import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

WHY = "Fix the totals of order 1042"


def _make_stale(name):
    age = timedelta(seconds=settings.GROUPS_MAX_AGE_SECONDS + 60)
    Profile.objects.filter(oid=tenant.USERS[name].oid).update(groups_read_at=now() - age)


@pytest.fixture
def pending(alice, catalog):  # noqa: F811
    """Return alice's pending request for orders-readwrite, which bob may approve."""
    client = Client()
    client.force_login(alice)
    response = client.post(
        "/api/v1/requests", {"role": "orders-readwrite", "justification": WHY}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return AccessRequest.objects.get(pk=response.json()["id"])


def _approve_page(client, request):
    return client.post(f"/access/requests/{request.pk}/approve/", {"comment": "ok"}, follow=True)


def test_a_fresh_approver_approves_on_the_page(client, stack, pending):
    sign_in(client, "bob")

    _approve_page(client, pending)

    pending.refresh_from_db()
    assert pending.state == AccessRequest.State.APPROVED


def test_a_stale_approver_is_told_to_sign_in_again_and_nothing_changes(client, stack, pending):
    sign_in(client, "bob")
    _make_stale("bob")

    response = _approve_page(client, pending)

    assert "sign in again" in response.content.decode()
    pending.refresh_from_db()
    assert pending.state == AccessRequest.State.PENDING


def test_signing_in_again_makes_the_memberships_fresh(client, stack, pending):
    sign_in(client, "bob")
    _make_stale("bob")
    sign_in(client, "bob")

    _approve_page(client, pending)

    pending.refresh_from_db()
    assert pending.state == AccessRequest.State.APPROVED


def test_a_stale_approver_gets_403_from_the_api_and_nothing_changes(client, stack, pending):
    sign_in(client, "bob")
    _make_stale("bob")

    response = client.post(f"/api/v1/requests/{pending.pk}/approve", {}, content_type="application/json")

    assert response.status_code == 403, response.content
    assert response.json()["error"] == "forbidden"
    assert "sign in again" in response.json()["detail"].lower()
    pending.refresh_from_db()
    assert pending.state == AccessRequest.State.PENDING


def test_a_stale_requester_gets_403_from_the_api(client, stack, catalog):  # noqa: F811
    sign_in(client, "alice")
    _make_stale("alice")

    response = client.post(
        "/api/v1/requests", {"role": "orders-readwrite", "justification": WHY}, content_type="application/json"
    )

    assert response.status_code == 403, response.content
    assert "sign in again" in response.json()["detail"].lower()
    assert not AccessRequest.objects.exists()


def test_a_fresh_person_passes_the_api_checks(client, stack, catalog):  # noqa: F811
    sign_in(client, "alice")
    created = client.post(
        "/api/v1/requests", {"role": "orders-readwrite", "justification": WHY}, content_type="application/json"
    )
    client.logout()
    sign_in(client, "bob")

    approved = client.post(f"/api/v1/requests/{created.json()['id']}/approve", {}, content_type="application/json")

    assert created.status_code == 201, created.content
    assert approved.json()["state"] == "approved"


def test_an_anonymous_caller_gets_401_not_authenticated_from_the_api(client, pending):
    create = client.post("/api/v1/requests", {}, content_type="application/json")
    approve = client.post(f"/api/v1/requests/{pending.pk}/approve")

    assert create.json()["error"] == "not_authenticated"
    assert approve.json()["error"] == "not_authenticated"


def test_an_anonymous_visitor_of_the_approve_page_is_sent_to_sign_in(client, pending):
    response = client.post(f"/access/requests/{pending.pk}/approve/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
