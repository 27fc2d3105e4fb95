"""Grants end early on demand: by the holder, an approver of the role or an admin; in bulk by admins."""

import pytest

from portal.access.models import AccessRequest, AuditEvent
from portal.integrations import vault
from tests.grants.conftest import can_log_in, client_for, grant_for, reveal, wait_for_state
from tests.support.waiting import wait_until
from tests.vault.conftest import role_exists

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_holder_revokes_early_and_the_credential_stops_working(stack, worker, people, catalog):
    grant = wait_for_state(grant_for(people["alice"], "orders-readwrite", approver=people["bob"]).pk, "active")
    body = reveal(people["alice"], grant.pk)
    assert can_log_in(body)

    response = client_for(people["alice"]).post(
        f"/api/v1/requests/{grant.pk}/revoke", {"reason": "Done early"}, content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json()["state"] in ("revoking", "revoked")
    grant = wait_for_state(grant.pk, "revoked")
    assert grant.revoked_by == people["alice"] and grant.revoke_reason == "Done early"
    assert not vault.grant_token_alive(accessor=grant.vault_token_accessor)
    assert wait_until(lambda: not role_exists(stack, body["username"]), timeout_seconds=20)
    assert not can_log_in(body)
    event = AuditEvent.objects.get(request=grant, action="grant.revoked")
    assert event.details["revoked_by"] == "alice@contoso.example"


def test_an_approver_of_the_role_may_revoke_and_someone_else_may_not(worker, people, catalog):
    grant = wait_for_state(grant_for(people["alice"], "orders-readwrite", approver=people["bob"]).pk, "active")

    # dave is neither the holder, nor an approver of orders-readwrite, nor an admin.
    refused = client_for(people["dave"]).post(f"/api/v1/requests/{grant.pk}/revoke")
    assert refused.status_code == 404
    assert AccessRequest.objects.get(pk=grant.pk).state == "active"

    assert client_for(people["bob"]).post(f"/api/v1/requests/{grant.pk}/revoke").status_code == 200
    assert wait_for_state(grant.pk, "revoked").revoked_by == people["bob"]


def test_a_revoked_grant_cannot_be_revoked_again(worker, people, catalog):
    grant = wait_for_state(grant_for(people["alice"], "analytics-readonly").pk, "active")
    client_for(people["alice"]).post(f"/api/v1/requests/{grant.pk}/revoke")
    wait_for_state(grant.pk, "revoked")

    again = client_for(people["alice"]).post(f"/api/v1/requests/{grant.pk}/revoke")

    assert again.status_code == 409
    assert AuditEvent.objects.filter(request=grant, action="grant.revoked").count() == 1


def test_admin_revokes_every_grant_of_a_user_and_only_theirs(worker, people, catalog):
    analytics = grant_for(people["alice"], "analytics-readonly")
    orders = grant_for(people["alice"], "orders-readwrite", approver=people["bob"])
    bobs = grant_for(people["bob"], "orders-readwrite", approver=people["carol"])
    for request in (analytics, orders, bobs):
        wait_for_state(request.pk, "active")

    response = client_for(people["carol"]).post(
        "/api/v1/grants/revoke", {"user": "alice@contoso.example", "reason": "Left the team"}, "application/json"
    )

    assert response.status_code == 200
    assert sorted(item["id"] for item in response.json()) == sorted([analytics.pk, orders.pk])
    for request in (analytics, orders):
        revoked = wait_for_state(request.pk, "revoked")
        assert revoked.revoked_by == people["carol"] and revoked.revoke_reason == "Left the team"
        assert not vault.grant_token_alive(accessor=revoked.vault_token_accessor)
    assert AccessRequest.objects.get(pk=bobs.pk).state == "active"


def test_admin_revokes_every_grant_of_a_role(worker, people, catalog):
    alices = grant_for(people["alice"], "orders-readwrite", approver=people["bob"])
    bobs = grant_for(people["bob"], "orders-readwrite", approver=people["carol"])
    other_role = grant_for(people["alice"], "analytics-readonly")
    for request in (alices, bobs, other_role):
        wait_for_state(request.pk, "active")

    response = client_for(people["carol"]).post(
        "/api/v1/grants/revoke", {"role": "orders-readwrite", "reason": "Incident 42"}, content_type="application/json"
    )

    assert response.status_code == 200
    for request in (alices, bobs):
        wait_for_state(request.pk, "revoked")
    assert AccessRequest.objects.get(pk=other_role.pk).state == "active"


def test_only_admins_revoke_in_bulk(people, catalog):
    response = client_for(people["bob"]).post(
        "/api/v1/grants/revoke", {"role": "orders-readwrite"}, content_type="application/json"
    )

    assert response.status_code == 403


def test_bulk_revoke_needs_exactly_one_scope(people, catalog):
    client = client_for(people["carol"])

    assert client.post("/api/v1/grants/revoke", {}, content_type="application/json").status_code == 400
    both = client.post(
        "/api/v1/grants/revoke", {"user": "alice@contoso.example", "role": "orders-readwrite"}, "application/json"
    )
    assert both.status_code == 400
    unknown = client.post("/api/v1/grants/revoke", {"role": "nope"}, content_type="application/json")
    assert unknown.status_code == 404
