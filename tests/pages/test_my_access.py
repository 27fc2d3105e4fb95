"""My access: cards of the roles with why, what waits for whom, and the grants with their actions."""

from django.utils import timezone

from portal.access.models import AccessRequest
from tests.pages.conftest import ask, client_for


def test_roles_are_cards_with_what_they_give_how_long_and_why(alice, catalog):
    page = client_for(alice).get("/").content.decode()

    assert "Orders (read-write)" in page and "through orders-engineers" in page
    assert "Read and change the orders and customers tables" in page
    assert "1 needed" in page and "automatic" in page and "4 h" in page
    assert 'aria-label="Request Orders (read-write)"' in page
    assert "Orders (admin)" not in page


def test_a_pending_request_says_who_may_approve_it(alice, catalog):
    ask(alice)

    page = client_for(alice).get("/").content.decode()

    assert "Who may approve: members of orders-approvers" in page
    assert "0 of 1 approval" in page


def test_an_active_grant_has_a_countdown_and_reveal_extend_revoke(alice, catalog):
    request = ask(alice)
    AccessRequest.objects.filter(pk=request.pk).update(
        state="active",
        starts_at=timezone.now(),
        ends_at=timezone.now() + timezone.timedelta(minutes=30),
        wrapped_secret="sealed",
    )

    page = client_for(alice).get("/").content.decode()

    assert "data-countdown=" in page
    assert f'action="/access/requests/{request.pk}/reveal/"' in page
    assert f'href="/access/requests/{request.pk}/extend/"' in page
    assert f'action="/access/requests/{request.pk}/revoke/"' in page


def test_erin_who_is_in_no_group_is_told_how_to_get_a_role(erin, catalog):
    page = client_for(erin).get("/").content.decode()

    assert "None of your groups makes you eligible" in page


def test_the_navigation_shows_approvers_how_many_requests_wait_for_them(alice, bob, carol, catalog):
    ask(alice)

    assert '<span class="count" aria-label="1 waiting">1</span>' in client_for(bob).get("/").content.decode()
    assert "To review" not in client_for(alice).get("/").content.decode()
    admin_nav = client_for(carol).get("/").content.decode()
    assert "Active grants" in admin_nav and "History" in admin_nav and "Dashboard" in admin_nav
    assert "Dashboard" not in client_for(bob).get("/").content.decode()
