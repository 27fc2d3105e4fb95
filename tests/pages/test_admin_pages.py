"""Admin pages: filtered history with streamed exports, active grants with bulk revoke, the dashboard."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.access import services
from portal.access.models import AccessRequest
from tests.pages.conftest import ask, client_for


@pytest.fixture
def story(alice, bob, dave, catalog):
    """Return three requests: alice's approved by bob, alice's approved at once, and dave's pending with a ticket."""
    approved = ask(alice, justification="Reconcile the payments of March")
    services.request_approve(actor=bob, request_id=approved.pk)
    analytics = ask(alice, role="analytics-readonly", justification="Count the sign-ups of last week")
    pending = ask(dave, role="orders-admin", justification="Repair the broken index", ticket="INC-77")
    return approved, analytics, pending


@pytest.mark.parametrize(
    "path", ["/access/audit/", "/access/audit/export.csv", "/access/grants/", "/access/dashboard/"]
)
def test_only_portal_admins_open_the_admin_pages(path, bob, carol, catalog):
    assert client_for(bob).get(path).status_code == 403
    assert client_for(carol).get(path).status_code == 200


def test_the_forbidden_page_is_friendly(bob, catalog):
    page = client_for(bob).get("/access/audit/").content.decode()

    assert "Not allowed" in page and "Back to my access" in page


def test_history_filters_by_person_role_action_state_and_text(carol, story):
    approved, analytics, pending = story
    client = client_for(carol)

    def requests_in(**params):
        page = client.get("/access/audit/", params)
        # Catalog events carry a role but no request.
        return {event.request_id for event in page.context["page"]} - {None}

    assert requests_in(person="dave") == {pending.pk}
    assert requests_in(role="analytics-readonly") == {analytics.pk}
    assert requests_in(action="request.approval") == {approved.pk}
    assert requests_in(state="pending") == {pending.pk}
    assert requests_in(q="INC-77") == {pending.pk}
    assert requests_in(q="payments") == {approved.pk}
    today = timezone.now().date()
    assert requests_in(since=today.isoformat(), until=today.isoformat()) == {approved.pk, analytics.pk, pending.pk}
    assert requests_in(until=(today - timedelta(days=1)).isoformat()) == set()


def test_a_reversed_date_range_is_a_field_error(carol, story):
    page = client_for(carol).get("/access/audit/", {"since": "2030-02-01", "until": "2030-01-01"})

    assert page.status_code == 200
    assert "The end of the range is before its start." in page.content.decode()


def test_history_is_paginated_and_keeps_the_filters_in_the_page_links(carol, alice, catalog):
    for _ in range(30):
        # Each is approved at once (two events); closing it lets alice ask again.
        request = ask(alice, role="analytics-readonly")
        AccessRequest.objects.filter(pk=request.pk).update(state="expired")

    client = client_for(carol)

    first = client.get("/access/audit/", {"person": "alice"})
    second = client.get("/access/audit/", {"person": "alice", "page": 2})
    beyond = client.get("/access/audit/", {"person": "alice", "page": 3})

    assert len(first.context["page"].object_list) == 50
    assert "?person=alice&amp;page=2" in first.content.decode() and "Events 1 to 50" in first.content.decode()
    assert len(second.context["page"].object_list) == 10 and not second.context["page"].has_next
    assert "?person=alice&amp;page=1" in second.content.decode() and "page=3" not in second.content.decode()
    assert "No older event." in beyond.content.decode()


def test_a_page_number_that_is_not_one_shows_the_first_page(carol, alice, catalog):
    ask(alice)

    page = client_for(carol).get("/access/audit/", {"page": "last"})

    assert page.status_code == 200 and page.context["page"].number == 1


def test_the_csv_export_streams_the_filtered_events(carol, alice, catalog):
    ask(alice)
    ask(alice, role="analytics-readonly")

    response = client_for(carol).get("/access/audit/export.csv", {"role": "orders-readwrite"})

    assert response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="latchkey-history.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {row["role"] for row in rows} == {"orders-readwrite"}
    assert [row["action"] for row in rows if row["request"]] == ["request.created"]


def test_the_json_export_is_one_valid_array_streamed_row_by_row(carol, story):
    response = client_for(carol).get("/access/audit/export.json", {"person": "alice"})

    assert response.streaming
    events = json.loads(b"".join(response.streaming_content))
    assert events and all(isinstance(event["id"], int) for event in events)
    assert "request.approved" in {event["action"] for event in events}


def test_an_unknown_export_format_is_not_found(carol, catalog):
    assert client_for(carol).get("/access/audit/export.xml").status_code == 404


def test_every_event_links_to_its_request(carol, story):
    approved, _, _ = story

    page = client_for(carol).get("/access/audit/").content.decode()

    assert f'href="/access/requests/{approved.pk}/"' in page


def test_bulk_revoke_needs_a_reason(carol, alice, bob, catalog):
    request = ask(alice)
    services.request_approve(actor=bob, request_id=request.pk)
    client = client_for(carol)

    response = client.post("/access/grants/revoke/", {"user": alice.profile.oid, "reason": " "}, follow=True)

    assert "Give a reason" in response.content.decode()
    request.refresh_from_db()
    assert request.state == AccessRequest.State.APPROVED


def test_the_grants_page_offers_revoke_one_all_of_a_person_and_all_of_a_role(carol, alice, bob, catalog):
    request = ask(alice)
    services.request_approve(actor=bob, request_id=request.pk)

    page = client_for(carol).get("/access/grants/").content.decode()

    assert f'action="/access/requests/{request.pk}/revoke/"' in page
    assert f'<option value="{alice.profile.oid}">alice@contoso.example</option>' in page
    assert f'<option value="{request.role_id}">Orders (read-write)</option>' in page
    assert page.count('name="reason"') == 3 and page.count("required") >= 3


def test_the_dashboard_counts_requests_per_day_approval_wait_and_top_roles(carol, story):
    page = client_for(carol).get("/access/dashboard/")

    stats = page.context["stats"]
    assert len(stats.per_day) == 30 and stats.per_day[-1][1] == 3
    assert stats.median_to_approval is not None
    assert stats.top_roles == [("Analytics (read-only)", 1), ("Orders (admin)", 1), ("Orders (read-write)", 1)]
    text = page.content.decode()
    assert "<svg" in text and "Requests per day" in text
