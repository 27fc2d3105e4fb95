"""The request form: quick durations, start now or later in the person's time zone, ticket checks."""

from datetime import UTC, datetime, timedelta

from portal.access.models import AccessRequest
from tests.pages.conftest import WHY, client_for


def test_quick_durations_stop_at_the_roles_maximum(alice, dave, catalog):
    page = client_for(alice).get("/access/requests/new/orders-readwrite/").content.decode()
    assert 'data-duration="15"' in page and 'data-duration="60"' in page and 'data-duration="240"' in page
    assert page.count("data-duration=") == 3

    admin_form = client_for(dave).get("/access/requests/new/orders-admin/").content.decode()
    assert 'data-duration="15"' in admin_form and 'data-duration="60"' in admin_form
    assert 'data-duration="240"' not in admin_form


def test_a_duration_above_the_maximum_is_a_field_error(alice, catalog):
    response = client_for(alice).post(
        "/access/requests/new/orders-readwrite/", {"duration_minutes": 241, "justification": WHY}
    )

    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["duration_minutes"]
    page = response.content.decode()
    assert 'aria-invalid="true" aria-describedby="id_duration_minutes_helptext id_duration_minutes_error"' in page
    assert '<ul class="errorlist" id="id_duration_minutes_error"><li>That is longer than' in page
    assert not AccessRequest.objects.exists()


def test_a_later_start_is_read_in_the_browsers_time_zone_and_stored_in_utc(alice, catalog):
    paris = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=30, second=0, microsecond=0)

    client_for(alice).post(
        "/access/requests/new/orders-readwrite/",
        {
            "duration_minutes": 60,
            "justification": WHY,
            "start": "later",
            "starts_at": paris.strftime("%Y-%m-%dT%H:%M"),
            "tz": "Europe/Paris",
        },
    )

    stored = AccessRequest.objects.get().requested_starts_at
    assert stored.utcoffset() == timedelta(0)
    assert stored.hour in (7, 8) and stored.minute == 30


def test_later_without_a_time_asks_for_one(alice, catalog):
    response = client_for(alice).post(
        "/access/requests/new/orders-readwrite/", {"duration_minutes": 60, "justification": WHY, "start": "later"}
    )

    assert list(response.context["form"].errors) == ["starts_at"]


def test_an_unknown_time_zone_falls_back_to_utc(alice, catalog):
    start = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)

    client_for(alice).post(
        "/access/requests/new/orders-readwrite/",
        {
            "duration_minutes": 60,
            "justification": WHY,
            "start": "later",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "tz": "Mars/Olympus",
        },
    )

    assert AccessRequest.objects.get().requested_starts_at == start


def test_the_ticket_field_carries_the_roles_pattern_and_the_server_checks_it(dave, catalog):
    client = client_for(dave)
    assert 'data-pattern="^[A-Z]+-[0-9]+$"' in client.get("/access/requests/new/orders-admin/").content.decode()

    response = client.post(
        "/access/requests/new/orders-admin/", {"duration_minutes": 30, "justification": WHY, "ticket": "ops-12"}
    )

    assert list(response.context["form"].errors) == ["ticket"]
    assert not AccessRequest.objects.exists()
