"""Bad input in the browser: escaped justifications, field errors, pattern checks, and a second reveal."""

import re

import pytest
from playwright.sync_api import expect

from portal.access.models import AccessRequest
from tests.browser.conftest import screenshots, sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SCRIPT = "<script>window.injected = true</script> Check the slow orders query"


def test_a_justification_with_a_script_tag_is_shown_as_text(portal_url, new_page, catalog):
    page = new_page()
    sign_in(page, portal_url, "alice")
    page.goto(f"{portal_url}/access/requests/new/orders-readwrite/")

    page.get_by_label("Justification").fill(SCRIPT)
    page.get_by_role("button", name="Send request").click()

    expect(page.locator(".justification")).to_have_text(SCRIPT)
    assert page.evaluate("window.injected") is None
    assert AccessRequest.objects.get().justification == SCRIPT


def test_a_duration_above_the_maximum_shows_an_error_next_to_the_field(portal_url, new_page, catalog):
    page = new_page(width=375, height=800)
    sign_in(page, portal_url, "alice")
    page.goto(f"{portal_url}/access/requests/new/orders-readwrite/")

    page.get_by_label("Duration in minutes").fill("9999")
    page.get_by_label("Justification").fill("Check the slow orders query")
    page.get_by_role("button", name="Send request").click()

    field = page.locator(".field.has-error")
    expect(field).to_have_count(1)
    expect(field.get_by_label("Duration in minutes")).to_have_attribute("aria-invalid", "true")
    expect(field).to_contain_text("longer than Orders (read-write) allows: at most 240 minutes")
    expect(page.get_by_label("Justification")).to_have_value("Check the slow orders query")
    assert not AccessRequest.objects.exists()
    screenshots(page, "request-form-errors")


def test_a_ticket_is_checked_against_the_roles_pattern_while_typing(portal_url, new_page, catalog):
    page = new_page()
    sign_in(page, portal_url, "dave")
    page.goto(f"{portal_url}/access/requests/new/orders-admin/")
    ticket = page.get_by_label("Ticket")

    ticket.fill("ops 12")
    expect(page.locator(".live-check")).to_contain_text("Does not match")
    expect(ticket).to_have_attribute("aria-invalid", "true")
    ticket.fill("OPS-12")
    expect(page.locator(".live-check")).to_contain_text("Looks right")

    ticket.fill("ops 12")
    page.get_by_label("Justification").fill("Restore the orders index after the incident")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator(".field.has-error")).to_contain_text("must match")
    assert not AccessRequest.objects.exists()


def test_a_start_time_is_read_in_the_browsers_time_zone_and_stored_in_utc(portal_url, browser, catalog):
    context = browser.new_context(timezone_id="Asia/Tokyo")
    try:
        page = context.new_page()
        sign_in(page, portal_url, "alice")
        page.goto(f"{portal_url}/access/requests/new/orders-readwrite/")
        expect(page.get_by_text("Times are in your time zone, Asia/Tokyo.")).to_be_hidden()

        page.get_by_label("At a chosen time").check()
        expect(page.get_by_text("Times are in your time zone, Asia/Tokyo.")).to_be_visible()
        page.get_by_label("Start time").fill("2099-01-02T09:30")
        page.get_by_label("Justification").fill("Prepare the orders migration")
        page.get_by_role("button", name="Send request").click()
        expect(page.locator(".field.has-error")).to_contain_text("at most 14 days ahead")

        local = page.evaluate(
            "(() => { const d = new Date(Date.now() + 2 * 86400000);"
            " const f = new Intl.DateTimeFormat('sv-SE', {timeZone: 'Asia/Tokyo', dateStyle: 'short',"
            " timeStyle: 'short'}); return f.format(d).replace(' ', 'T'); })()"
        )
        page.get_by_label("Start time").fill(local)
        page.get_by_role("button", name="Send request").click()
        expect(page.locator("h1")).to_contain_text("Orders (read-write)")
    finally:
        context.close()
    stored = AccessRequest.objects.get().requested_starts_at
    hour, minute = (int(part) for part in local[11:16].split(":"))
    assert (stored.hour, stored.minute) == ((hour - 9) % 24, minute)


def test_a_second_reveal_shows_the_gone_page(portal_url, new_page, worker, catalog):
    first = new_page()
    sign_in(first, portal_url, "alice")
    first.get_by_role("link", name="Request Analytics (read-only)").click()
    first.get_by_label("Justification").fill("Count yesterday's sign-ups")
    first.get_by_role("button", name="Send request").click()
    expect(first.get_by_role("button", name="Reveal credentials")).to_be_visible(timeout=60_000)
    # A second tab of the same session, opened before the first reveal.
    second = first.context.new_page()
    second.goto(first.url)

    first.get_by_role("button", name="Reveal credentials").click()
    expect(first.get_by_text("These credentials are shown once.")).to_be_visible()
    with second.expect_response(re.compile(r"/reveal/$")) as response:
        second.get_by_role("button", name="Reveal credentials").click()

    assert response.value.status == 410
    expect(second.get_by_role("heading", name="Already revealed")).to_be_visible()
    assert "postgresql://" not in second.content()
    screenshots(second, "gone-410", dark=True)
