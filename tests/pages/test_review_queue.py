"""The review queue: everything an approver needs on one page, and decisions that return to it."""

from portal.access import services
from portal.access.models import AccessRequest, AccessRole
from tests.pages.conftest import ask, client_for


def test_each_item_shows_duration_ticket_wait_justification_and_recent_requests(alice, bob, dave, catalog):
    earlier = ask(alice)
    services.request_cancel(actor=alice, request_id=earlier.pk)
    request = ask(alice, duration_minutes=30)

    page = client_for(bob).get("/access/review/").content.decode()

    assert "alice@contoso.example asks for Orders (read-write)" in page
    assert "30 min" in page and "Waiting" in page and "0 of 1 approval" in page
    assert f"#{earlier.pk}" in page and "state-cancelled" in page
    assert f'id="approve-{request.pk}-comment"' in page and f'id="deny-{request.pk}-comment"' in page


def test_approving_with_a_shorter_duration_returns_to_the_queue(alice, bob, catalog):
    request = ask(alice, duration_minutes=120)

    response = client_for(bob).post(
        f"/access/requests/{request.pk}/approve/", {"duration_minutes": 30, "next": "/access/review/"}
    )

    assert response.status_code == 302 and response["Location"] == "/access/review/"
    request.refresh_from_db()
    assert request.state == AccessRequest.State.APPROVED and request.duration_minutes == 30


def test_denying_without_a_comment_returns_to_the_queue_with_the_reason(alice, bob, catalog):
    request = ask(alice)
    client = client_for(bob)

    response = client.post(f"/access/requests/{request.pk}/deny/", {"comment": "", "next": "/access/review/"})
    page = client.get(response["Location"]).content.decode()

    assert response["Location"] == "/access/review/"
    assert "Why you deny it" in page and "This field is required." in page
    request.refresh_from_db()
    assert request.state == AccessRequest.State.PENDING


def test_a_decision_never_redirects_outside_the_portal(alice, bob, catalog):
    request = ask(alice)

    response = client_for(bob).post(
        f"/access/requests/{request.pk}/deny/", {"comment": "No", "next": "https://evil.example/"}
    )

    assert response["Location"] == f"/access/requests/{request.pk}/"


def test_the_requester_has_nothing_to_review_in_their_own_request(alice, catalog):
    ask(alice)

    assert "Nothing to review" in client_for(alice).get("/access/review/").content.decode()


def test_each_item_has_fields_of_its_own_as_if_rendered_for_it_alone(alice, bob, dave, catalog):
    """The queue renders its forms' fields once and gives each item its IDs: the same as rendering them per item."""
    from django.template.loader import render_to_string

    from portal.access.forms import ApproveForm, DenyForm

    requests = [ask(alice), ask(dave, role="orders-admin", ticket="INC-1234")]

    page = client_for(bob).get("/access/review/").content.decode()

    for request in requests:
        for form_class, name in ((ApproveForm, "approve"), (DenyForm, "deny")):
            alone = render_to_string("_fields.html", {"form": form_class(auto_id=f"{name}-{request.pk}-%s")})
            assert alone in page
    assert f'for="approve-{requests[1].pk}-duration_minutes"' in page
    assert f'aria-describedby="deny-{requests[0].pk}-comment_helptext"' in page
    assert "-item-" not in page


def test_each_items_earlier_requests_are_linked_with_their_state_and_escaped(alice, bob, dave, catalog):
    AccessRole.objects.filter(slug="orders-readwrite").update(name="Orders <rw> & co")
    earlier = ask(alice)
    services.request_cancel(actor=alice, request_id=earlier.pk)
    ask(alice)
    ask(dave, role="orders-admin", ticket="OPS-12")

    page = client_for(bob).get("/access/review/").content.decode()

    assert (
        f'<ul class="history-mini"><li><a href="/access/requests/{earlier.pk}/">#{earlier.pk}</a> '
        'Orders &lt;rw&gt; &amp; co · <span class="state state-cancelled">'
    ) in page
    assert " ago</li></ul>" in page and "<rw>" not in page
    assert page.count('<p class="muted small">None before this one.</p>') == 1  # dave's first request
