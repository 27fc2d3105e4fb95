"""Right-sizing against a seeded history whose answer is known, in the report, the API and the CSV."""

import csv
import io
from datetime import timedelta

import pytest

from portal.core.clock import now
from portal.devstack import tenant
from portal.reviews import rightsizing
from tests.reviews.history import State, grant, seed_orders_history
from tests.support.personas import make_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(catalog, alice, bob, dave, monkeypatch):
    orders = catalog["orders-readwrite"]
    orders.default_duration_minutes = 240
    orders.save()
    make_person(
        upn="frank@contoso.example",
        oid="f0000000-0000-4000-8000-000000000006",
        display_name="Frank",
        group_ids=[tenant.GROUPS["orders-engineers"]],
    )
    seed_orders_history(orders, alice, monkeypatch)
    # Older than the window: not counted.
    grant(alice, orders, minutes=15, started=now() - timedelta(days=100), state=State.EXPIRED, revealed_after=1)
    base = now() - timedelta(days=10)
    for index in range(5):
        started = base + timedelta(days=3, hours=index * 2)
        grant(dave, catalog["orders-admin"], minutes=60, started=started, state=State.EXPIRED, revealed_after=2)
    return catalog


def by_slug(rows):
    return {row.slug: row for row in rows}


def test_a_role_whose_grants_end_early_is_told_to_lower_its_default(history):
    row = by_slug(rightsizing.rightsizing())["orders-readwrite"]

    assert row.grants == 10
    assert row.requested_median_minutes == 240
    # 80% of the ten grants ended within 30 minutes.
    assert row.used_most_minutes == 30
    assert row.reveal_median_minutes == pytest.approx(3.5)
    assert row.revoked_early == 8
    assert row.held_before_revoke_median_minutes == pytest.approx(22.5)
    assert row.ended == 10
    assert row.never_revealed == 4
    # alice, bob and frank are eligible; only alice asked.
    assert (row.eligible, row.idle_eligible) == (3, 2)
    assert row.suggested_default_minutes == 60
    assert row.suggestion == "Most grants end within 30 min of a 4 h request: lower the default to 1 h."


def test_a_role_nobody_asked_for_is_questioned(history):
    row = by_slug(rightsizing.rightsizing())["analytics-readonly"]

    assert (row.grants, row.eligible, row.idle_eligible) == (0, 1, 1)
    assert row.suggested_default_minutes is None
    assert row.suggestion.startswith("No grant in 90 days, and none of the eligible people (1) asked")


def test_a_role_used_as_asked_gets_no_change(history):
    row = by_slug(rightsizing.rightsizing())["orders-admin"]

    assert (row.grants, row.requested_median_minutes, row.used_most_minutes) == (5, 60, 60)
    assert (row.never_revealed, row.idle_eligible) == (0, 0)
    assert row.suggestion == "Requests match use: no change suggested."


def test_grants_that_are_never_revealed_are_pointed_out(catalog, alice):
    orders = catalog["orders-readwrite"]
    base = now() - timedelta(days=5)
    for index in range(6):
        grant(
            alice,
            orders,
            minutes=60,
            started=base + timedelta(hours=index * 2),
            state=State.EXPIRED,
            revealed_after=3 if index < 3 else None,
        )

    row = rightsizing.role_sizing(orders)

    assert (row.ended, row.never_revealed) == (6, 3)
    assert row.suggestion.startswith("3 of 6 grants ended without their credentials being revealed")


def test_the_chart_draws_asked_and_used_to_one_scale(history):
    chart = rightsizing.chart(rightsizing.rightsizing())

    bars = {bar["name"]: bar for bar in chart["bars"]}
    assert set(bars) == {"Orders (read-write)", "Orders (admin)"}
    orders = bars["Orders (read-write)"]
    assert orders["asked_width"] == rightsizing.CHART_BAR_SPAN
    assert orders["used_width"] == round(orders["asked_width"] / 8)
    assert (orders["asked"], orders["used"]) == ("4 h", "30 min")
    assert bars["Orders (admin)"]["asked_width"] == bars["Orders (admin)"]["used_width"]


def test_the_page_the_api_and_the_csv_show_the_same_figures(history, client, carol):
    client.force_login(carol)

    page = client.get("/reviews/right-sizing/")
    api = client.get("/api/v1/reviews/rightsizing")
    download = client.get("/api/v1/reviews/rightsizing?format=csv")
    page_csv = client.get("/reviews/right-sizing.csv")

    assert page.status_code == 200
    html = page.content.decode()
    assert "lower the default to 1 h" in html
    assert "<svg" in html and "asked 4 h" in html and "used 30 min" in html
    assert api.status_code == 200
    roles = {row["slug"]: row for row in api.json()["roles"]}
    assert roles["orders-readwrite"]["used_most_minutes"] == 30
    assert roles["orders-readwrite"]["suggested_default_minutes"] == 60
    for response in (download, page_csv):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        rows = {row["slug"]: row for row in csv.DictReader(io.StringIO(response.content.decode()))}
        assert rows["orders-readwrite"]["never_revealed"] == "4"
        assert rows["orders-readwrite"]["held_before_revoke_median_minutes"] == "22.5"


def test_right_sizing_is_for_portal_admins(history, client, bob):
    client.force_login(bob)

    assert client.get("/reviews/right-sizing/").status_code == 403
    refused = client.get("/api/v1/reviews/rightsizing")
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
