"""The API's lists: the count is exact, and a first page with room to spare is its own count (no COUNT query)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.access.models import AccessRequest, AccessRole
from tests.support.grants import client_for

pytestmark = pytest.mark.django_db
State = AccessRequest.State


def _ended_requests(user, count: int) -> None:
    role = AccessRole.objects.get(slug="orders-readwrite")
    AccessRequest.objects.bulk_create(
        AccessRequest(role=role, requester=user, state=State.CANCELLED, justification="Paging", duration_minutes=60)
        for _ in range(count)
    )


def _listed(user, query: str = ""):
    with CaptureQueriesContext(connection) as captured:
        response = client_for(user).get(f"/api/v1/requests{query}")
    assert response.status_code == 200
    counts = [item["sql"] for item in captured.captured_queries if "COUNT(" in item["sql"]]
    return response.json(), counts


def test_a_first_page_with_room_to_spare_counts_its_own_rows(alice, catalog):
    _ended_requests(alice, 3)

    page, counts = _listed(alice, "?page_size=4")

    assert page["count"] == 3 and len(page["results"]) == 3 and page["next"] is None
    assert counts == []


def test_a_full_first_page_is_counted_exactly_and_links_the_next(alice, catalog):
    _ended_requests(alice, 5)

    for size, next_page in ((4, True), (5, False)):
        page, counts = _listed(alice, f"?page_size={size}")
        assert page["count"] == 5 and len(page["results"]) == size
        assert (page["next"] is not None) == next_page

    second, _ = _listed(alice, "?page_size=4&page=2")
    assert second["count"] == 5 and len(second["results"]) == 1 and second["previous"] is not None
    assert {item["id"] for item in page["results"]} == set(AccessRequest.objects.values_list("id", flat=True))


def test_an_empty_list_counts_zero_and_a_page_past_the_end_is_404(alice, catalog):
    page, counts = _listed(alice)
    assert page == {"count": 0, "next": None, "previous": None, "results": []} and counts == []

    response = client_for(alice).get("/api/v1/requests?page=2")
    assert response.status_code == 404
