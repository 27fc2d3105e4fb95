"""The approval queue under data: its queries do not grow with the number of requests waiting."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from portal.access import services
from portal.access.selectors import recent_requests_of, requests_to_review, with_recent_requests
from portal.accounts.models import Profile

WHY = "Investigate the late orders of ticket OPS-12"
DBA_GROUP = "a0000000-0000-4000-8000-000000000004"  # may ask for orders-admin (the demo catalog)

pytestmark = pytest.mark.django_db


def queue_queries(bob) -> int:
    client = Client()
    client.force_login(bob)
    client.get("/access/review/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/access/review/").status_code == 200
    return len(queries)


def nav_item(response, label: str) -> dict:
    return next(item for item in response.context["items"] if item["label"] == label)


def ask_with_history(user) -> None:
    for _ in range(3):
        earlier = services.request_create(actor=user, role="orders-readwrite", justification=WHY)
        services.request_cancel(actor=user, request_id=earlier.pk)
    services.request_create(actor=user, role="orders-readwrite", justification=WHY)


def assert_each_lists_what_a_query_of_its_own_finds(queue, *, count: int) -> None:
    """Each item's recent requests, as `with_recent_requests` read them, are those a query of its own finds."""
    for item in queue:
        read_with_the_page = recent_requests_of(item.requester, exclude_id=item.pk)
        del item.requester.recent_requests_prefetched
        assert read_with_the_page == recent_requests_of(item.requester, exclude_id=item.pk)
        assert len(read_with_the_page) == count and item not in read_with_the_page


def test_the_queue_costs_the_same_queries_for_two_requests_or_eight(bob, catalog, engineers):
    for user in engineers(2):
        ask_with_history(user)
    with_two = queue_queries(bob)
    for user in engineers(6, start=2):
        ask_with_history(user)

    assert queue_queries(bob) == with_two


def test_each_item_lists_the_same_recent_requests_as_a_query_of_its_own(bob, catalog, engineers):
    for user in engineers(3):
        ask_with_history(user)

    queue = with_recent_requests(list(requests_to_review(bob)))

    assert len(queue) == 3
    assert_each_lists_what_a_query_of_its_own_finds(queue, count=3)


def test_the_queue_shows_25_a_page_and_counts_every_request_waiting(bob, catalog, engineers):
    waiting = [
        services.request_create(actor=user, role="orders-readwrite", justification=WHY) for user in engineers(27)
    ]
    client = Client()
    client.force_login(bob)

    first = client.get("/access/review/")
    second = client.get("/access/review/", {"page": 2})

    assert [item.pk for item in first.context["page"]] == [request.pk for request in waiting[:25]]
    assert [item.pk for item in second.context["page"]] == [request.pk for request in waiting[25:]]
    for page in (first, second):
        assert "27 waiting" in page.content.decode()
        assert {"label": "To review", "count": 27}.items() <= nav_item(page, "To review").items()
    assert 'href="?page=2"' in first.content.decode() and 'href="?page=1"' in second.content.decode()
    assert 'name="next" value="/access/review/?page=2"' in second.content.decode()


def test_the_api_queue_does_not_read_the_requesters_recent_requests_that_only_the_page_shows(bob, catalog, engineers):
    for user in engineers(2):
        ask_with_history(user)
    client = Client()
    client.force_login(bob)

    def recent_reads(path: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        return sum("CROSS JOIN LATERAL" in query["sql"].upper() for query in queries.captured_queries)

    assert recent_reads("/access/review/") == 1
    assert recent_reads("/api/v1/requests?scope=to_review") == 0
    assert len(client.get("/api/v1/requests?scope=to_review").json()["results"]) == 2


def test_a_requester_with_two_requests_waiting_has_the_same_recent_requests_beside_each(bob, catalog, engineers):
    (user,) = engineers(1)
    ask_with_history(user)
    profile = Profile.objects.get(user=user)
    Profile.objects.filter(pk=profile.pk).update(groups=[*profile.groups, DBA_GROUP])
    services.request_create(
        actor=get_user_model().objects.get(pk=user.pk), role="orders-admin", justification=WHY, ticket="OPS-12"
    )

    queue = with_recent_requests(list(requests_to_review(bob)))

    assert len(queue) == 2 and queue[0].requester is not queue[1].requester
    assert_each_lists_what_a_query_of_its_own_finds(queue, count=4)


def test_recent_requests_of_nobody_are_no_query():
    with CaptureQueriesContext(connection) as queries:
        assert with_recent_requests([]) == []
    assert len(queries) == 0
