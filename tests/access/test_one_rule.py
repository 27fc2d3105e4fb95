"""Each workflow rule has one home: the page and the API reach the same rule and answer alike."""

import html
from datetime import timedelta

from portal.access import policy, services
from portal.access.models import REASON_MAX_CHARS, AccessRequest
from portal.core.clock import now
from tests.support.clock import clock_at
from tests.support.grants import client_for

State = AccessRequest.State
WHY = "Investigating the late orders of ticket OPS-12"


def api_post(user, path, body=None):
    return client_for(user).post(f"/api/v1/{path}", body or {}, content_type="application/json")


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def active_grant(user, role="orders-readwrite", **fields) -> AccessRequest:
    """Stand in for approval and issuance (the Vault side): an active grant of `user`."""
    request = services.request_create(actor=user, role=role, justification=WHY)
    start = now()
    AccessRequest.objects.filter(pk=request.pk).update(
        state=State.ACTIVE, starts_at=start, ends_at=start + timedelta(minutes=60), wrapped_secret="sealed", **fields
    )
    request.refresh_from_db()
    return request


def make_stale(user) -> None:
    user.profile.groups_read_at = now() - timedelta(days=1)
    user.profile.save()


def test_an_approver_with_stale_memberships_may_not_revoke_on_the_page_or_in_the_api(alice, bob, catalog):
    grant = active_grant(alice)
    make_stale(bob)

    assert policy.may_revoke(bob, grant) is False
    detail = client_for(bob).get(f"/access/requests/{grant.pk}/")
    assert f"/access/requests/{grant.pk}/revoke/" not in detail.content.decode()
    page = client_for(bob).post(f"/access/requests/{grant.pk}/revoke/", {"reason": "Done here"}, follow=True)
    assert "sign in again" in page_text(page)
    api = api_post(bob, f"requests/{grant.pk}/revoke", {"reason": "Done here"})
    assert api.status_code == 403
    assert "sign in again" in api.json()["detail"]
    assert AccessRequest.objects.get(pk=grant.pk).state == State.ACTIVE


def test_a_grant_being_revoked_is_still_held_but_cannot_be_revoked_again(alice, catalog):
    grant = active_grant(alice)
    AccessRequest.objects.filter(pk=grant.pk).update(state=State.REVOKING, closing_as=State.REVOKED)

    mine = client_for(alice).get("/")
    assert [g.pk for g in mine.context["active"]] == [grant.pk]
    assert f"/access/requests/{grant.pk}/revoke/" not in mine.content.decode()
    page = client_for(alice).post(f"/access/requests/{grant.pk}/revoke/", {"reason": "Again"}, follow=True)
    assert "there is nothing to revoke" in page_text(page)
    api = api_post(alice, f"requests/{grant.pk}/revoke", {"reason": "Again"})
    assert api.status_code == 409
    assert "there is nothing to revoke" in api.json()["detail"]


def test_bulk_revoke_needs_a_reason_on_the_page_and_in_the_api_alike(alice, carol, catalog):
    grant = active_grant(alice)
    expected = "Give a reason to revoke grants in bulk: it goes into the history."

    page = client_for(carol).post("/access/grants/revoke/", {"user": alice.profile.oid, "reason": "  "}, follow=True)
    assert expected in page_text(page)
    api = api_post(carol, "grants/revoke", {"user": alice.profile.upn})
    assert api.status_code == 400
    assert api.json()["detail"] == expected
    assert api.json()["fields"] == {"reason": ["A reason is required."]}
    assert AccessRequest.objects.get(pk=grant.pk).state == State.ACTIVE


def test_the_reason_limit_is_one_number_for_the_form_the_page_and_the_api(alice, catalog):
    grant = active_grant(alice)
    too_long = "x" * (REASON_MAX_CHARS + 1)

    detail = client_for(alice).get(f"/access/requests/{grant.pk}/").content.decode()
    assert f'maxlength="{REASON_MAX_CHARS}"' in detail
    page = client_for(alice).post(f"/access/requests/{grant.pk}/revoke/", {"reason": too_long}, follow=True)
    assert "Keep the reason short." in page_text(page)
    api = api_post(alice, f"requests/{grant.pk}/revoke", {"reason": too_long})
    assert api.status_code == 400
    assert api.json()["fields"] == {"reason": [f"At most {REASON_MAX_CHARS} characters."]}
    assert AccessRequest.objects.get(pk=grant.pk).state == State.ACTIVE

    exactly = api_post(alice, f"requests/{grant.pk}/revoke", {"reason": "y" * REASON_MAX_CHARS})
    assert exactly.status_code == 200
    assert exactly.json()["state"] == State.REVOKING


def test_a_second_request_names_the_first_ones_state_in_good_english_on_the_page_and_in_the_api(alice, bob, catalog):
    first = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    services.request_approve(actor=bob, request_id=first.pk)
    expected = f"You already have a request for this role that is approved (#{first.pk})."

    page = client_for(alice).post(
        "/access/requests/new/orders-readwrite/", {"duration_minutes": 30, "justification": WHY}
    )
    assert page.status_code == 200
    assert page.context["form"].non_field_errors() == [expected]
    api = api_post(alice, "requests", {"role": "orders-readwrite", "justification": WHY})
    assert api.status_code == 409
    assert api.json()["detail"] == expected


def test_the_roles_api_tells_what_the_page_tells(dave, catalog):
    api = client_for(dave).get("/api/v1/roles").json()
    page = page_text(client_for(dave).get("/"))
    form = page_text(client_for(dave).get("/access/requests/new/orders-admin/"))

    assert [
        (role["slug"], role["eligible_through"], role["approvals_required"], role["approver_groups"]) for role in api
    ] == [("orders-admin", ["dba"], 2, ["orders-approvers"])]
    assert api[0]["ticket_pattern"] == "^[A-Z]+-[0-9]+$" and api[0]["ticket_required"] is True
    assert "through dba" in page and "2 needed" in page
    assert "Format: ^[A-Z]+-[0-9]+$" in form and "orders-approvers" in form


def test_moving_the_clock_once_moves_every_reader_of_it(alice, bob, catalog):
    # `portal.accounts.selectors` bound its own `now` at import: it follows the one seam all the same.
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    with clock_at() as clock:
        assert client_for(bob).get(f"/access/requests/{request.pk}/").context["may_decide"] is True
        clock.advance(timedelta(days=1))
        detail = client_for(bob).get(f"/access/requests/{request.pk}/")
        assert detail.context["may_decide"] is False
        page = client_for(bob).post(f"/access/requests/{request.pk}/approve/", {"comment": "ok"}, follow=True)
        assert "sign in again" in page_text(page)
        api = api_post(bob, f"requests/{request.pk}/approve", {"comment": "ok"})
        assert api.status_code == 403
    assert AccessRequest.objects.get(pk=request.pk).state == State.PENDING

    assert client_for(bob).get(f"/access/requests/{request.pk}/").context["may_decide"] is True
