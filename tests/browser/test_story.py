"""The whole story in a browser: request, approve, see it change live, reveal once, connect, revoke, audit."""

import csv
import io
import re

import psycopg
import pytest
from playwright.sync_api import expect

from portal.access.models import AccessRequest
from tests.browser.conftest import screenshots, sign_in
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WHY = "Fix the stuck order 4711 for the customer hotline"


def connects(uri: str) -> bool:
    try:
        with psycopg.connect(uri, connect_timeout=3) as conn:
            conn.execute("SELECT count(*) FROM orders")
    except psycopg.OperationalError:
        return False
    return True


def test_alice_gets_orders_readwrite_approved_by_bob_uses_it_revokes_it_and_carol_finds_it_all(
    portal_url, new_page, worker, beat, catalog
):
    # Alice asks for the role from her cards.
    alice = new_page()
    alice.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal_url)
    sign_in(alice, portal_url, "alice")
    screenshots(alice, "my-access-empty", dark=True)
    alice.get_by_role("link", name="Request Orders (read-write)").click()
    alice.get_by_role("button", name="1 h").click()
    alice.get_by_label("Justification").fill(WHY)
    screenshots(alice, "request-form", dark=True)
    alice.get_by_role("button", name="Send request").click()
    expect(alice.locator("#request-live")).to_contain_text("Waiting for approval")
    request_id = int(re.search(r"/requests/(\d+)/", alice.url).group(1))
    assert AccessRequest.objects.get(pk=request_id).duration_minutes == 60
    screenshots(alice, "request-detail-pending")
    # A marker that a reload would wipe: the state must change on this very page.
    alice.evaluate("window.stillTheSamePage = true")

    # Bob sees the count in the navigation and approves from the queue.
    bob = new_page()
    sign_in(bob, portal_url, "bob")
    expect(bob.get_by_role("link", name=re.compile(r"To review\s*1"))).to_be_visible()
    bob.get_by_role("link", name=re.compile("To review")).click()
    expect(bob.get_by_text("alice@contoso.example asks for Orders (read-write)")).to_be_visible()
    screenshots(bob, "review-queue", dark=True)
    bob.evaluate("window.stillTheQueue = true")
    bob.get_by_label("Comment (optional)").fill("Go ahead")
    bob.get_by_role("button", name=f"Approve #{request_id}").click()
    expect(bob.get_by_text(f"You approved request #{request_id}")).to_be_visible()
    assert "/access/review/" in bob.url
    expect(bob.get_by_text("Nothing to review")).to_be_visible()
    expect(bob.get_by_role("link", name="To review", exact=True)).to_be_visible()
    assert bob.evaluate("window.stillTheQueue") is True

    # Alice's page follows the request to active by itself.
    reveal = alice.get_by_role("button", name="Reveal credentials")
    expect(reveal).to_be_visible(timeout=60_000)
    assert alice.evaluate("window.stillTheSamePage") is True
    expect(alice.locator("#request-live")).to_contain_text("Active")
    screenshots(alice, "request-detail-active", dark=True)

    # She reveals once and copies the connection URI.
    reveal.click()
    expect(alice.get_by_text("These credentials are shown once.")).to_be_visible()
    alice.get_by_role("button", name="Copy the connection URI").click()
    expect(alice.get_by_role("button", name="Copy the connection URI")).to_have_text("Copied ✓")
    uri = alice.evaluate("navigator.clipboard.readText()")
    assert uri == alice.locator("#cred-uri").inner_text()
    assert uri.startswith("postgresql://")
    screenshots(alice, "credentials")
    assert connects(uri)

    # Carol, an admin, sees the grant among the active ones.
    carol = new_page()
    sign_in(carol, portal_url, "carol")
    carol.get_by_role("link", name=re.compile("^Active grants")).click()
    expect(carol.get_by_role("link", name=f"#{request_id}")).to_be_visible()
    screenshots(carol, "active-grants", dark=True)

    # She revokes it with a reason; the credentials stop working.
    alice.get_by_role("link", name="Back to the request").click()
    alice.get_by_text("Revoke…").click()
    alice.get_by_label("Reason").fill("Order fixed")
    alice.get_by_role("button", name="Revoke now").click()
    expect(alice.locator("#request-live")).to_contain_text("Revoked", timeout=60_000)
    assert wait_until(lambda: not connects(uri), timeout_seconds=30)
    screenshots(alice, "request-detail-revoked")
    alice.goto(f"{portal_url}/")
    screenshots(alice, "my-access-history")

    # Carol finds every step in the history and exports it.
    carol.goto(f"{portal_url}/")
    carol.get_by_role("link", name="History").click()
    carol.get_by_label("Person").fill("alice")
    carol.get_by_label("Search").fill("4711")
    carol.get_by_role("button", name="Filter").click()
    table = carol.locator("table")
    for step in ("Requested", "Approved", "Credentials issued", "Credentials revealed", "Revoke requested", "Revoked"):
        expect(table.get_by_text(step, exact=True).first).to_be_visible()
    screenshots(carol, "history", dark=True)
    with carol.expect_download() as download:
        carol.get_by_role("link", name="CSV").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    actions = {row["action"] for row in rows}
    assert {"request.created", "request.approved", "grant.issued", "grant.revealed", "grant.revoked"} <= actions
    assert {row["request"] for row in rows} == {str(request_id)}
    assert uri not in open(download.value.path(), encoding="utf-8").read()
    carol.get_by_role("link", name=f"#{request_id}").first.click()
    expect(carol.locator("h1")).to_contain_text(f"#{request_id}")

    carol.get_by_role("link", name="Dashboard").click()
    expect(carol.get_by_text("Median time to approval")).to_be_visible()
    screenshots(carol, "dashboard", dark=True)
    carol.get_by_role("link", name="Health").click()
    screenshots(carol, "health")
    carol.goto(f"{portal_url}/access/requests/999999/")
    expect(carol.get_by_role("heading", name="Not found")).to_be_visible()
    screenshots(carol, "not-found-404", dark=True)
