"""Break-glass in a browser: dave activates it during an incident, bob reviews it, carol sees it everywhere."""

import re

import pytest
from playwright.sync_api import expect

from portal.breakglass.models import BreakGlassPolicy, BreakGlassUse
from tests.browser.conftest import screenshots, sign_in
from tests.browser.test_accessibility import UNLABELLED

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WHY = "Orders database rejects writes; restoring service"


def test_dave_breaks_the_glass_bob_confirms_it_and_carol_finds_it(portal_url, new_page, worker, beat, catalog):
    BreakGlassPolicy.objects.create(role=catalog["orders-admin"], incident_pattern=r"^INC-[0-9]+$")

    # Dave, at 3 a.m., breaks the glass of Orders (admin) from his cards.
    dave = new_page()
    sign_in(dave, portal_url, "dave")
    expect(dave.get_by_role("heading", name="Break-glass (emergencies only)")).to_be_visible()
    dave.get_by_role("link", name="Break the glass of Orders (admin)").click()
    assert dave.evaluate(UNLABELLED) == []
    dave.get_by_label("Incident reference").fill("outage")
    dave.get_by_label("Justification").fill(WHY)
    dave.get_by_label("Duration in minutes").fill("20")
    dave.get_by_role("button", name="Break glass now").click()
    expect(dave.get_by_text("The incident reference must match")).to_be_visible()
    screenshots(dave, "break-glass-form")
    dave.get_by_label("Incident reference").fill("INC-4711")
    dave.get_by_role("button", name="Break glass now").click()

    # No approver: the grant is issued at once, and marked as break-glass.
    expect(dave.locator(".break-glass")).to_contain_text("INC-4711")
    expect(dave.get_by_role("button", name="Reveal credentials")).to_be_visible(timeout=60_000)
    request_id = int(re.search(r"/requests/(\d+)/", dave.url).group(1))
    expect(dave.locator("#request-live")).to_contain_text("Break-glass activated")
    screenshots(dave, "break-glass-grant", dark=True)

    # Bob, an approver of the role, finds the review task and confirms the use.
    bob = new_page()
    sign_in(bob, portal_url, "bob")
    bob.get_by_role("link", name=re.compile(r"Break-glass reviews\s*1")).click()
    expect(bob.get_by_text("INC-4711")).to_be_visible()
    assert bob.evaluate(UNLABELLED) == []
    screenshots(bob, "break-glass-reviews", dark=True)
    bob.get_by_label("Comment", exact=True).fill("Matches the incident channel")
    bob.get_by_role("button", name="Confirm").click()
    expect(
        bob.get_by_text(f"Break-glass #{request_id} of dave@contoso.example: confirmed as justified")
    ).to_be_visible()
    expect(bob.get_by_text("No break-glass use is waiting for your review.")).to_be_visible()
    use = BreakGlassUse.objects.get(request_id=request_id)
    assert (use.review_state, use.reviewer_label) == ("confirmed", "bob@contoso.example")

    # Carol, a portal admin, sees it among the active grants, on the dashboard and in the history.
    carol = new_page()
    sign_in(carol, portal_url, "carol")
    carol.get_by_role("link", name=re.compile("^Active grants")).click()
    expect(carol.locator(".state-break-glass")).to_be_visible()
    carol.get_by_role("link", name="Dashboard").click()
    expect(carol.get_by_role("heading", name="Break-glass")).to_be_visible()
    screenshots(carol, "dashboard-break-glass")
    carol.get_by_role("link", name="History").click()
    expect(carol.get_by_text("Break-glass use confirmed").first).to_be_visible()
