"""Admin powers and reveals rest on memberships read recently; bulk revoke names people by oid; names, not IDs."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from portal.access import policy, services
from portal.access.models import AccessRequest, AuditEvent
from portal.accounts.models import Profile
from portal.core.clock import now
from portal.core.errors import NotAllowed
from tests.support.grants import client_for

State = AccessRequest.State
WHY = "Investigating the late orders of ticket OPS-12"


def make_stale(user) -> None:
    user.profile.groups_read_at = now() - timedelta(days=1)
    user.profile.save()


def active_grant(user, role="orders-readwrite") -> AccessRequest:
    request = services.request_create(actor=user, role=role, justification=WHY)
    start = now()
    AccessRequest.objects.filter(pk=request.pk).update(
        state=State.ACTIVE, starts_at=start, ends_at=start + timedelta(minutes=60), wrapped_secret="s.token"
    )
    request.refresh_from_db()
    return request


ADMIN_PAGES = ["/access/audit/", "/access/audit/export.csv", "/access/grants/", "/access/dashboard/", "/admin/"]
ADMIN_API = ["/api/v1/audit", "/api/v1/requests?scope=all"]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_an_admin_with_stale_memberships_is_refused_the_admin_pages(carol, catalog, path):
    carol.is_staff = True
    carol.save()
    assert client_for(carol).get(path).status_code == 200

    make_stale(carol)

    # The admin site sends a refused person to its login, which refuses a signed-in one.
    assert client_for(carol).get(path, follow=True).status_code == 403


@pytest.mark.parametrize("path", ADMIN_API)
def test_an_admin_with_stale_memberships_is_refused_the_admin_api(carol, catalog, path):
    assert client_for(carol).get(path).status_code == 200

    make_stale(carol)

    response = client_for(carol).get(path)
    assert response.status_code == 403
    assert "sign in again" in response.json()["detail"]


def test_an_admin_with_stale_memberships_may_not_revoke_on_the_page_or_in_the_api(alice, carol, catalog):
    grant = active_grant(alice)
    make_stale(carol)

    assert policy.may_revoke(carol, grant) is False
    assert "Revoke" not in client_for(carol).get("/").content.decode().split("Active grants")[0]
    page = client_for(carol).post("/access/grants/revoke/", {"user": alice.profile.oid, "reason": "Incident 42"})
    assert page.status_code == 403
    one = client_for(carol).post(
        f"/api/v1/requests/{grant.pk}/revoke", {"reason": "Incident 42"}, content_type="application/json"
    )
    assert one.status_code == 403
    bulk = client_for(carol).post(
        "/api/v1/grants/revoke", {"user": alice.profile.oid, "reason": "Incident 42"}, content_type="application/json"
    )
    assert bulk.status_code == 403 and "sign in again" in bulk.json()["detail"]
    assert AccessRequest.objects.get(pk=grant.pk).state == State.ACTIVE


def test_a_holder_with_stale_memberships_may_not_reveal_on_the_page_or_in_the_api(alice, catalog):
    grant = active_grant(alice)
    make_stale(alice)

    assert policy.may_reveal(alice, grant) is False
    page = client_for(alice).post(f"/access/requests/{grant.pk}/reveal/", follow=True)
    assert "sign in again" in page.content.decode()
    api = client_for(alice).post(f"/api/v1/requests/{grant.pk}/credentials")
    assert api.status_code == 403 and "sign in again" in api.json()["detail"]
    grant.refresh_from_db()
    assert grant.revealed_at is None and grant.wrapped_secret


def test_bulk_revoke_takes_the_persons_oid_and_a_upn_only_when_it_names_one_person(alice, carol, catalog):
    grant = active_grant(alice)
    # Someone from another tenant whose UPN reads the same.
    other = get_user_model().objects.create(username="another-tenant.alice")
    Profile.objects.create(
        user=other, tid="another-tenant", oid="c0000000-0000-4000-8000-000000000099", upn=alice.profile.upn, groups=[]
    )
    client = client_for(carol)

    ambiguous = client.post(
        "/api/v1/grants/revoke", {"user": alice.profile.upn, "reason": "Left"}, content_type="application/json"
    )
    assert ambiguous.status_code == 400
    assert "names more than one person" in ambiguous.json()["detail"]
    assert AccessRequest.objects.get(pk=grant.pk).state == State.ACTIVE

    by_oid = client.post(
        "/api/v1/grants/revoke", {"user": alice.profile.oid, "reason": "Left"}, content_type="application/json"
    )
    assert by_oid.status_code == 200
    assert [item["id"] for item in by_oid.json()] == [grant.pk]


def test_the_bulk_page_names_people_by_oid(alice, bob, carol, catalog):
    grant = active_grant(alice)

    page = client_for(carol).get("/access/grants/").content.decode()
    assert f'<option value="{alice.profile.oid}">' in page
    client_for(carol).post("/access/grants/revoke/", {"user": alice.profile.oid, "reason": "Left the team"})

    assert AccessRequest.objects.get(pk=grant.pk).state == State.REVOKING


def test_who_revoked_is_recorded_by_name_not_by_internal_id(alice, bob, carol, catalog):
    # As sign-in leaves them: the username is the internal `<tid>.<oid>`.
    for person in (alice, bob, carol):
        person.username = f"{person.profile.tid}.{person.profile.oid}"
        person.save()
    grant = active_grant(alice)
    services.grant_revoke(actor=carol, request_id=grant.pk, reason="Incident 42")
    services.grant_revoke_finish(request_id=grant.pk)

    revoked = AuditEvent.objects.get(request=grant, action="grant.revoked")
    assert revoked.details["revoked_by"] == "carol@contoso.example"

    pending = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    alice.profile.groups = []
    alice.profile.save()
    with pytest.raises(NotAllowed):
        services.request_approve(actor=bob, request_id=pending.pk)
    closed = AuditEvent.objects.get(request=pending, action="request.denied")
    assert closed.details["noticed_by"] == "bob@contoso.example"
