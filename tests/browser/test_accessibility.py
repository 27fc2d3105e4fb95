"""Accessibility basics in a real browser: labelled inputs, keyboard use, status in words."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

UNLABELLED = """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map((el) => el.outerHTML)"""


def test_every_input_of_the_forms_has_a_label(portal_url, new_page, catalog):
    page = new_page()
    sign_in(page, portal_url, "carol")

    for path in ("/", "/access/audit/", "/access/grants/", "/access/dashboard/"):
        page.goto(f"{portal_url}{path}")
        assert page.evaluate(UNLABELLED) == [], path
    dave = new_page()
    sign_in(dave, portal_url, "dave")
    dave.goto(f"{portal_url}/access/requests/new/orders-admin/")
    assert dave.evaluate(UNLABELLED) == []


def test_a_request_can_be_made_with_the_keyboard_alone(portal_url, new_page, catalog):
    page = new_page()
    sign_in(page, portal_url, "alice")
    page.goto(f"{portal_url}/access/requests/new/orders-readwrite/")

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.get_by_role("button", name="15 min").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Duration in minutes")).to_have_value("15")
    expect(page.get_by_role("button", name="15 min")).to_have_attribute("aria-pressed", "true")
    page.get_by_label("Justification").focus()
    page.keyboard.type("Look into the refunds of order 12")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send request")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.locator("#request-live")).to_contain_text("Waiting for approval")


def test_states_are_shown_in_words_not_colour_alone(portal_url, new_page, catalog):
    page = new_page()
    sign_in(page, portal_url, "alice")
    page.goto(f"{portal_url}/access/requests/new/orders-readwrite/")
    page.get_by_label("Justification").fill("Look into the refunds of order 12")
    page.get_by_role("button", name="Send request").click()

    badge = page.locator("#request-live .state").first
    expect(badge).to_have_text("Waiting for approval")
    assert (
        page.evaluate("getComputedStyle(document.querySelector('#request-live .state'), '::before').content") != "none"
    )
