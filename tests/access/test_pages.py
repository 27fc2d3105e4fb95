"""The server-rendered pages: my access with why, the request form, detail with timeline, the review queue."""

from django.test import Client

from portal.access import services
from portal.access.models import AccessRequest
from tests.support.grants import client_for

WHY = "Investigating the late orders of ticket OPS-12"


def test_my_access_shows_eligible_roles_with_the_group_that_grants_them(alice, catalog):
    response = client_for(alice).get("/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Orders (read-write)" in page and "through orders-engineers" in page
    assert "Orders (admin)" not in page


def test_anonymous_visitors_are_sent_to_sign_in(db):
    response = Client().get("/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_request_form_shows_errors_next_to_the_fields(dave, catalog):
    response = client_for(dave).post(
        "/access/requests/new/orders-admin/", {"duration_minutes": 30, "justification": "short", "ticket": "nope"}
    )

    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"justification", "ticket"}
    assert not AccessRequest.objects.exists()


def test_request_form_creates_the_request_and_shows_its_detail(alice, catalog):
    client = client_for(alice)
    response = client.post("/access/requests/new/orders-readwrite/", {"duration_minutes": 30, "justification": WHY})

    request = AccessRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/access/requests/{request.pk}/"
    detail = client.get(response["Location"]).content.decode()
    assert "request.created" in detail and "pending" in detail


def test_a_role_the_user_is_not_eligible_for_has_no_form(erin, catalog):
    assert client_for(erin).get("/access/requests/new/orders-readwrite/").status_code == 404


def test_review_queue_shows_the_request_with_the_requesters_recent_history(alice, bob, catalog):
    earlier = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    services.request_cancel(actor=alice, request_id=earlier.pk)
    services.request_create(actor=alice, role="orders-readwrite", justification=WHY)

    page = client_for(bob).get("/access/review/").content.decode()

    assert "alice@contoso.example asks for Orders (read-write)" in page
    assert f"#{earlier.pk}" in page and "cancelled" in page


def test_bob_approves_from_the_detail_page(alice, bob, catalog):
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)

    response = client_for(bob).post(f"/access/requests/{request.pk}/approve/", {"comment": "ok"})

    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == AccessRequest.State.APPROVED


def test_deny_without_a_comment_changes_nothing(alice, bob, catalog):
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)

    client_for(bob).post(f"/access/requests/{request.pk}/deny/", {"comment": ""})

    request.refresh_from_db()
    assert request.state == AccessRequest.State.PENDING


def test_someone_elses_request_is_not_found(alice, dave, catalog):
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    assert client_for(dave).get(f"/access/requests/{request.pk}/").status_code == 404


def test_audit_history_page_is_for_admins(alice, carol, catalog):
    assert client_for(alice).get("/access/audit/").status_code == 403
    assert client_for(carol).get("/access/audit/").status_code == 200
