"""Request detail: escaped text, a timeline with words, and a live part that the page polls while it moves."""

from django.utils import timezone

from portal.access import services
from portal.access.models import AccessRequest
from tests.pages.conftest import ask, client_for

SCRIPT = '<script>alert("x")</script> Check the late orders'


def test_a_script_in_the_justification_is_escaped_everywhere_it_is_shown(alice, bob, carol, catalog):
    request = ask(alice, justification=SCRIPT)

    for user, path in ((alice, f"/access/requests/{request.pk}/"), (bob, "/access/review/")):
        page = client_for(user).get(path).content.decode()
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
        assert "<script>alert" not in page
    history = client_for(carol).get("/access/audit/", {"q": "late orders"}).content.decode()
    assert "<script>alert" not in history


def test_the_live_part_is_polled_while_the_request_waits_and_no_longer_once_it_ended(alice, catalog):
    request = ask(alice)
    client = client_for(alice)

    live = client.get(f"/access/requests/{request.pk}/live/")
    assert live.status_code == 200
    assert f'data-poll-url="/access/requests/{request.pk}/live/"' in live.content.decode()
    assert "no-cache" in live["Cache-Control"] or "max-age=0" in live["Cache-Control"]

    services.request_cancel(actor=alice, request_id=request.pk)
    ended = client.get(f"/access/requests/{request.pk}/live/").content.decode()
    assert "data-poll-url" not in ended
    assert "Cancelled" in ended


def test_the_timeline_names_each_event_with_who(alice, bob, catalog):
    request = ask(alice)
    services.request_approve(actor=bob, request_id=request.pk, comment="Fine by me")

    page = client_for(alice).get(f"/access/requests/{request.pk}/").content.decode()

    assert "Requested" in page and "Approval given" in page and "bob@contoso.example" in page
    assert "“Fine by me”" in page


def test_the_progress_shows_where_an_active_grant_is(alice, catalog):
    request = ask(alice)
    AccessRequest.objects.filter(pk=request.pk).update(
        state="active", starts_at=timezone.now(), ends_at=timezone.now() + timezone.timedelta(minutes=5)
    )

    page = client_for(alice).get(f"/access/requests/{request.pk}/").content.decode()

    assert '<li class="done">Issued' in page
    assert '<li class="current" aria-current="step">Revealed' in page


def test_someone_who_may_not_see_the_request_gets_not_found_for_its_live_part(alice, dave, catalog):
    request = ask(alice)

    assert client_for(dave).get(f"/access/requests/{request.pk}/live/").status_code == 404


def test_a_second_reveal_is_the_gone_page(alice, catalog):
    request = ask(alice)
    AccessRequest.objects.filter(pk=request.pk).update(
        state="active",
        starts_at=timezone.now(),
        ends_at=timezone.now() + timezone.timedelta(minutes=5),
        revealed_at=timezone.now(),
    )

    response = client_for(alice).post(f"/access/requests/{request.pk}/reveal/")

    assert response.status_code == 410
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert "Already revealed" in page and f"Back to request #{request.pk}" in page
