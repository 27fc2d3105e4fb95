import pytest

from portal.devstack import tenant
from tests.browser.conftest import screenshot, sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_alice_signs_in_through_the_provider_page_and_sees_her_name(portal_url, new_page):
    page = new_page()

    sign_in(page, portal_url, "alice")

    assert page.get_by_text(tenant.USERS["alice"].display_name).first.is_visible()
    screenshot(page, "home-alice")


def test_a_visitor_who_is_not_signed_in_is_sent_to_the_sign_in_page(portal_url, new_page):
    page = new_page(width=375, height=800)

    page.goto(f"{portal_url}/")

    assert "/login/" in page.url
    screenshot(page, "sign-in-mobile")
