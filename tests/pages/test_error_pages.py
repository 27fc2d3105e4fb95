"""Friendly error pages in the portal's design."""

from django.template.loader import render_to_string
from django.test import Client, override_settings


def test_an_unknown_page_is_the_friendly_not_found_page(alice):
    client = Client()
    client.force_login(alice)

    response = client.get("/access/requests/999999/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "Not found" in page and "Back to my access" in page and "latchkey.css" in page


@override_settings(ROOT_URLCONF="tests.prod.urls")
def test_the_server_error_page_renders_without_a_request_a_database_or_the_portals_urls():
    page = render_to_string("500.html")

    assert "Something went wrong" in page and "latchkey.css" in page
