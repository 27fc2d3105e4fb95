"""An access review end to end in a browser: carol starts it, bob keeps and removes, the removal bites at once,
the export tells the Entra admins what to remove, and the people nobody decided follow the review's setting."""

import csv
import io
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal.access import services as access_services
from portal.access.models import AccessRequest
from portal.core.clock import now
from portal.devstack import tenant
from portal.reviews import services as review_services
from portal.reviews.models import Campaign, ReviewItem
from tests.browser.conftest import screenshots, sign_in
from tests.browser.test_accessibility import UNLABELLED
from tests.grants.conftest import wait_for_state
from tests.reviews.history import seed_orders_history
from tests.support.personas import make_person

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WHY = "Reconcile the refunds of the March orders batch"
ENGINEERS = tenant.GROUPS["orders-engineers"]


def removals_of(page) -> list[dict]:
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download the removals")).click()
    with open(download.value.path(), encoding="utf-8") as exported:
        return list(csv.DictReader(io.StringIO(exported.read())))


def test_carol_reviews_orders_readwrite_bob_keeps_and_removes_and_the_due_date_settles_the_rest(
    portal_url,
    new_page,
    worker,
    catalog,
    people,  # noqa: F811
    monkeypatch,
):
    # Two more engineers, known to the portal from an earlier sign-in.
    engineers = {}
    for name, number in (("grace", 7), ("frank", 6)):
        engineers[name] = make_person(
            upn=f"{name}@contoso.example",
            oid=f"f0000000-0000-4000-8000-00000000000{number}",
            display_name=name.capitalize(),
            group_ids=[ENGINEERS],
        )
    # The role hands out 4 h by default; grace's grants of the last days mostly ended within half an hour.
    orders = catalog["orders-readwrite"]
    orders.default_duration_minutes = 240
    orders.save()
    seed_orders_history(orders, engineers["grace"], monkeypatch)
    # Alice holds an active grant of the role, issued by the real worker through Vault.
    grant = access_services.request_create(
        actor=people["alice"], role="orders-readwrite", justification=WHY, duration_minutes=60
    )
    access_services.request_approve(actor=people["bob"], request_id=grant.pk)
    wait_for_state(grant.pk, "active")

    # Carol, a portal admin, starts the review: due tomorrow, undecided people removed.
    carol = new_page()
    sign_in(carol, portal_url, "carol")
    carol.get_by_role("link", name="Access reviews").click()
    assert carol.evaluate(UNLABELLED) == []
    carol.get_by_label("Role to review").select_option(label="Orders (read-write)")
    carol.get_by_label("Due date").fill((now() + timedelta(days=1)).date().isoformat())
    carol.get_by_label("Remove them").check()
    screenshots(carol, "reviews-start", dark=True)
    carol.get_by_role("button", name="Start the review").click()
    expect(carol.get_by_text(re.compile(r"Review #\d+ of Orders \(read-write\) has started"))).to_be_visible()
    campaign = Campaign.objects.get()
    assert set(campaign.items.values_list("upn", flat=True)) == {
        "alice@contoso.example",
        "bob@contoso.example",
        "frank@contoso.example",
        "grace@contoso.example",
    }

    # Bob, an approver, sees how many people wait for him and the evidence for each.
    bob = new_page()
    sign_in(bob, portal_url, "bob")
    expect(bob.get_by_role("link", name=re.compile(r"Access reviews\s*3"))).to_be_visible()
    bob.get_by_role("link", name=re.compile("Access reviews")).click()
    bob.get_by_role("link", name=f"Review #{campaign.pk} of Orders (read-write)").click()
    alice_card = bob.locator(f"#item-{campaign.items.get(upn='alice@contoso.example').pk}")
    expect(alice_card).to_contain_text("Eligible through orders-engineers")
    expect(alice_card.locator("dd").nth(3)).to_have_text("1")  # open grants
    # Nobody reviews their own access.
    expect(bob.get_by_text("This is your own access: another approver decides it.")).to_be_visible()
    expect(bob.get_by_role("button", name="Keep bob@contoso.example")).to_have_count(0)
    assert bob.evaluate(UNLABELLED) == []
    screenshots(bob, "reviews-decide", dark=True)

    bob.get_by_role("button", name="Keep grace@contoso.example").click()
    expect(bob.get_by_text("You kept grace@contoso.example in Orders (read-write).")).to_be_visible()
    alice_card.get_by_label("Reason (required to remove)").fill("Moved to the billing team in May")
    alice_card.get_by_role("button", name="Remove alice@contoso.example").click()
    expect(
        bob.get_by_text("You removed alice@contoso.example from Orders (read-write); 1 open grant revoked.")
    ).to_be_visible()
    # A second click on the same decision (from a stale tab) changes nothing.
    assert (
        review_services.item_decide(
            actor=people["bob"],
            item_id=campaign.items.get(upn="alice@contoso.example").pk,
            decision="remove",
            reason="x",
        ).reason
        == "Moved to the billing team in May"
    )
    screenshots(bob, "reviews-decided")

    # Alice loses the grant through Vault and can no longer ask for the role.
    assert wait_for_state(grant.pk, "revoked").revoked_by == people["bob"]
    alice = new_page()
    sign_in(alice, portal_url, "alice")
    expect(alice.get_by_role("link", name="Request Analytics (read-only)")).to_be_visible()
    expect(alice.get_by_role("link", name="Request Orders (read-write)")).to_have_count(0)
    response = alice.goto(f"{portal_url}/access/requests/new/orders-readwrite/")
    assert response.status == 404

    # Carol decides for bob, and downloads what the Entra admins must remove.
    carol.reload()
    carol.get_by_role("button", name="Keep bob@contoso.example").click()
    rows = removals_of(carol)
    assert [(row["person_upn"], row["remove_from"], row["group_object_id"]) for row in rows] == [
        ("alice@contoso.example", "orders-engineers", ENGINEERS)
    ]
    assert rows[0]["reason"] == "Moved to the billing team in May"
    assert rows[0]["decided_by"] == "bob@contoso.example"

    # Nobody decided for frank: at the due date, the review's setting removes him.
    assert campaign.items.get(upn="frank@contoso.example").decision == ReviewItem.Decision.PENDING
    review_services.reviews_sweep(at=Campaign.objects.get().due_at + timedelta(minutes=1))
    frank = campaign.items.get(upn="frank@contoso.example")
    assert frank.decision == ReviewItem.Decision.REMOVE and frank.decided_when_overdue
    assert Campaign.objects.get().state == Campaign.State.CLOSED
    carol.reload()
    expect(carol.locator(f"#item-{frank.pk}")).to_contain_text("Removed at the due date")
    screenshots(carol, "reviews-closed", dark=True)
    rows = removals_of(carol)
    assert {(row["person_upn"], row["decided_at_due_date"]) for row in rows} == {
        ("alice@contoso.example", "no"),
        ("frank@contoso.example", "yes"),
    }
    assert AccessRequest.objects.filter(requester=people["alice"], role__slug="orders-readwrite").count() == 1

    # The dashboard keeps no open review; right-sizing reads the history.
    carol.get_by_role("link", name="Dashboard").click()
    expect(carol.get_by_text("No review open.")).to_be_visible()
    carol.get_by_role("link", name="Right-sizing report").click()
    expect(carol.locator("#suggest-orders-readwrite")).to_contain_text(
        "Most grants end within 30 min of a 4 h request: lower the default to 1 h."
    )
    screenshots(carol, "rightsizing", dark=True)
