"""The pages of access reviews: start one, decide in it, download the removals; who sees what."""

import csv
import io
from datetime import timedelta

import pytest

from portal.access.models import AccessRequest
from portal.core.clock import now
from portal.devstack import tenant
from portal.reviews.models import Campaign, ReviewItem
from tests.reviews.conftest import active_grant

pytestmark = pytest.mark.django_db


def signed_in(client, user):
    client.force_login(user)
    return client


def test_an_admin_starts_a_review_from_the_page(catalog, alice, bob, carol, client):
    due = (now() + timedelta(days=7)).date()

    response = signed_in(client, carol).post(
        "/reviews/", {"role": "orders-readwrite", "due_on": due.isoformat(), "when_overdue": "remove"}
    )

    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/reviews/{campaign.pk}/"
    assert campaign.due_at.date() == due and (campaign.due_at.hour, campaign.due_at.minute) == (23, 59)
    assert campaign.when_overdue == "remove"
    page = client.get(response["Location"]).content.decode()
    assert f"Review #{campaign.pk} of Orders (read-write)" in page
    assert "alice@contoso.example" in page and "bob@contoso.example" in page
    assert "orders-engineers" in page


def test_a_due_date_in_the_past_is_shown_next_to_the_field(catalog, carol, client):
    past = (now() - timedelta(days=1)).date()

    response = signed_in(client, carol).post(
        "/reviews/", {"role": "orders-readwrite", "due_on": past.isoformat(), "when_overdue": "keep"}
    )

    assert response.status_code == 200
    assert "at least an hour ahead" in response.content.decode()
    assert not Campaign.objects.exists()


def test_an_approver_decides_from_the_page_and_sees_the_evidence(catalog, alice, bob, carol, client, start_review):
    campaign = start_review("orders-readwrite")
    active_grant(alice, catalog["orders-readwrite"])
    item = campaign.items.get(user=alice)
    client = signed_in(client, bob)

    page = client.get(f"/reviews/{campaign.pk}/").content.decode()
    assert "Keep alice@contoso.example" in page
    # Nobody reviews themselves: bob sees his own item without buttons.
    assert "Keep bob@contoso.example" not in page
    assert "This is your own access" in page
    assert "Open grants</dt><dd>1</dd>" in page

    response = client.post(f"/reviews/items/{item.pk}/decide/", {"decision": "remove", "reason": "Left the team"})

    assert response.status_code == 302
    item.refresh_from_db()
    assert item.decision == ReviewItem.Decision.REMOVE
    after = client.get(response["Location"]).content.decode()
    assert "You removed alice@contoso.example from Orders (read-write); 1 open grant revoked." in after
    assert AccessRequest.objects.get(requester=alice).state == AccessRequest.State.REVOKING


def test_removing_without_a_reason_says_so_and_changes_nothing(catalog, alice, bob, start_review, client):
    campaign = start_review("orders-readwrite")
    item = campaign.items.get(user=alice)

    response = signed_in(client, bob).post(f"/reviews/items/{item.pk}/decide/", {"decision": "remove"}, follow=True)

    assert "Say why this person should lose the role" in response.content.decode()
    assert ReviewItem.objects.get(pk=item.pk).decision == ReviewItem.Decision.PENDING


def test_people_who_neither_run_nor_decide_reviews_are_refused(catalog, alice, dave, erin, start_review, client):
    campaign = start_review("orders-readwrite")
    item = campaign.items.get(user=alice)
    client = signed_in(client, dave)

    assert client.get("/reviews/").status_code == 403
    assert client.get(f"/reviews/{campaign.pk}/").status_code == 404
    assert client.post(f"/reviews/items/{item.pk}/decide/", {"decision": "keep"}).status_code == 404
    assert client.get("/reviews/removals.csv").status_code == 403
    assert ReviewItem.objects.get(pk=item.pk).decision == ReviewItem.Decision.PENDING


def test_the_export_lists_each_membership_to_remove(catalog, alice, bob, carol, start_review, client):
    campaign = start_review("orders-readwrite")
    client = signed_in(client, carol)
    client.post(
        f"/reviews/items/{campaign.items.get(user=alice).pk}/decide/",
        {"decision": "remove", "reason": "=HYPERLINK(evil) left the team"},
    )
    client.post(f"/reviews/items/{campaign.items.get(user=bob).pk}/decide/", {"decision": "keep"})

    response = client.get(f"/reviews/removals.csv?campaign={campaign.pk}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1
    row = rows[0]
    assert row["person_upn"] == "alice@contoso.example"
    assert row["person_object_id"] == tenant.USERS["alice"].oid
    assert row["remove_from"] == "orders-engineers"
    assert row["group_object_id"] == tenant.GROUPS["orders-engineers"]
    assert row["decided_by"] == "carol@contoso.example"
    # A spreadsheet never runs a reviewer's text as a formula.
    assert row["reason"] == "'=HYPERLINK(evil) left the team"


def test_the_navigation_counts_the_people_waiting_for_a_reviewer(catalog, alice, bob, carol, start_review, client):
    start_review("orders-readwrite")

    page = signed_in(client, carol).get("/").content.decode()

    assert 'href="/reviews/"' in page
    assert '<span class="count" aria-label="2 waiting">2</span>' in page


def test_the_dashboard_shows_open_reviews_and_their_progress(catalog, alice, bob, carol, start_review, client):
    campaign = start_review("orders-readwrite")
    signed_in(client, carol).post(f"/reviews/items/{campaign.items.get(user=alice).pk}/decide/", {"decision": "keep"})

    page = client.get("/access/dashboard/").content.decode()

    assert "Open access reviews" in page
    assert f"Review #{campaign.pk} of Orders (read-write)" in page
    assert "1 of 2 decided" in page
    assert 'href="/reviews/right-sizing/"' in page


@pytest.mark.parametrize(
    "path", ["/reviews/", "/reviews/1/", "/reviews/removals.csv", "/reviews/right-sizing/", "/reviews/right-sizing.csv"]
)
def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_decision_is_a_post(catalog, alice, bob, start_review, client):
    item = start_review("orders-readwrite").items.get(user=alice)

    assert signed_in(client, bob).get(f"/reviews/items/{item.pk}/decide/").status_code == 405


def test_a_large_review_is_shown_a_page_at_a_time_and_a_decision_returns_to_its_page(
    catalog, alice, bob, carol, start_review, client, monkeypatch
):
    from portal.reviews import views
    from tests.support.personas import make_person

    monkeypatch.setattr(views, "CAMPAIGN_PAGE_SIZE", 2)
    make_person(
        upn="zoe@contoso.example",
        oid="d0000000-0000-4000-8000-000000000026",
        display_name="Zoe",
        group_ids=[tenant.GROUPS["orders-engineers"]],
    )
    campaign = start_review("orders-readwrite")
    assert campaign.items.count() == 3
    client = signed_in(client, carol)

    first = client.get(f"/reviews/{campaign.pk}/").content.decode()
    second = client.get(f"/reviews/{campaign.pk}/?page=2").content.decode()

    assert "Page 1 of 2 (3 people)" in first and "Page 2 of 2 (3 people)" in second
    assert "alice@contoso.example" in first and "bob@contoso.example" in first
    assert "zoe@contoso.example" not in first and "zoe@contoso.example" in second
    zoe = campaign.items.get(upn="zoe@contoso.example")
    back = f"/reviews/{campaign.pk}/?page=2"
    assert f'<input type="hidden" name="next" value="{back}">' in second

    kept = client.post(f"/reviews/items/{zoe.pk}/decide/", {"decision": "keep", "next": back})

    assert kept.status_code == 302 and kept["Location"] == f"{back}#item-{zoe.pk}"
    assert ReviewItem.objects.get(pk=zoe.pk).decision == ReviewItem.Decision.KEEP
    # A `next` that leaves the portal is not followed: back to the review's first page.
    alice_item = campaign.items.get(user=alice)
    elsewhere = client.post(
        f"/reviews/items/{alice_item.pk}/decide/", {"decision": "keep", "next": "https://attacker.example/"}
    )
    assert elsewhere["Location"] == f"/reviews/{campaign.pk}/#item-{alice_item.pk}"
