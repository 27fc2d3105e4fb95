"""The navigation's count of requests to review is the queue's own, for each person, in one query."""

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from portal.access import selectors, services

pytestmark = pytest.mark.django_db

WHY = "Investigating the late orders of ticket OPS-12"


def test_each_person_counts_the_requests_their_queue_lists(catalog, alice, bob, carol, dave, erin):
    services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    approved_once = services.request_create(actor=dave, role="orders-admin", justification=WHY, ticket="OPS-12")
    services.request_approve(actor=bob, request_id=approved_once.pk)  # orders-admin asks for two
    services.request_create(actor=alice, role="analytics-readonly", justification=WHY)
    counts = {}
    for person in (alice, bob, carol, dave, erin):
        request = RequestFactory().get("/")
        request.user = person
        with CaptureQueriesContext(connection) as queries:
            counts[person.pk] = selectors.count_to_review_in(request)
            again = selectors.count_to_review_in(request)
        assert counts[person.pk] == again == selectors.requests_to_review(person).count(), person.username
        if counts[person.pk]:
            assert [query["sql"].startswith("SELECT COUNT(*)") for query in queries] == [True]

    # bob has approved dave's request already: only alice's is left to him.
    assert counts[bob.pk] == 1 and counts[carol.pk] >= 1
    assert counts[alice.pk] == counts[dave.pk] == 0
