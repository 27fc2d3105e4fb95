"""Links to a request's page and actions: `{% request_url %}` gives what `{% url %}` gives, resolved once."""

import pytest
from django.template import engines
from django.urls import NoReverseMatch, reverse, set_script_prefix

ROUTES = ["access:request-detail", "access:request-approve", "access:request-deny", "access:request-extend"]
ROUTES += ["access:request-reveal", "access:request-revoke"]


def render(text: str, **context) -> str:
    return engines["django"].from_string("{% load latchkey %}" + text).render(context)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("request_id", [1, 42, 2**31 - 2])
def test_a_request_link_is_the_routes_own_path(route, request_id):
    assert render("{% request_url route pk %}", route=route, pk=request_id) == reverse(route, args=[request_id])


def test_a_request_link_follows_the_script_prefix_the_portal_is_served_under():
    try:
        set_script_prefix("/portal/")
        assert render("{% request_url 'access:request-detail' 7 %}") == "/portal/access/requests/7/"
    finally:
        set_script_prefix("/")
    assert render("{% request_url 'access:request-detail' 7 %}") == "/access/requests/7/"


def test_a_request_link_takes_only_a_number():
    with pytest.raises(ValueError):
        render("{% request_url 'access:request-detail' pk %}", pk="7/../../admin")


def test_a_route_without_a_request_id_is_refused():
    with pytest.raises(NoReverseMatch):
        render("{% request_url 'home' 7 %}")


def test_the_navigations_links_follow_the_script_prefix(rf, alice):
    from portal.access.templatetags.latchkey import site_nav

    def nav_urls(prefix: str) -> list[str]:
        request = rf.get(f"{prefix}access/requests/7/")
        request.user = alice
        try:
            set_script_prefix(prefix)
            return [(item["url"], item["current"]) for item in site_nav({"request": request})["items"]]
        finally:
            set_script_prefix("/")

    # A request's page is under My access, wherever the portal is served.
    assert nav_urls("/") == [("/", True)]
    assert nav_urls("/portal/") == [("/portal/", True)]
