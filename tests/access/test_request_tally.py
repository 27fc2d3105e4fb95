"""The number of requests the database keeps (`RequestTally`): exact through every way rows come and go."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from portal.access import services
from portal.access.models import AccessRequest, AccessRole
from portal.access.selectors import requests_total
from tests.support.grants import client_for

State = AccessRequest.State
WHY = "Counting the requests of the nightly check"


def _cancelled(user, count: int) -> list[AccessRequest]:
    role = AccessRole.objects.get(slug="orders-readwrite")
    return AccessRequest.objects.bulk_create(
        AccessRequest(role=role, requester=user, state=State.CANCELLED, justification=WHY, duration_minutes=60)
        for _ in range(count)
    )


def _exact() -> bool:
    return requests_total() == AccessRequest.objects.count()


@pytest.mark.django_db
def test_the_tally_follows_inserts_bulk_inserts_and_deletes(alice, bob, catalog):
    assert requests_total() == 0
    services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    _cancelled(bob, 7)
    assert requests_total() == 8 and _exact()

    AccessRequest.objects.filter(pk__in=[row.pk for row in AccessRequest.objects.filter(requester=bob)[:3]]).delete()

    assert requests_total() == 5 and _exact()


@pytest.mark.django_db
def test_a_refused_insert_and_a_rolled_back_one_leave_the_tally_as_it_was(alice, catalog):
    services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    with pytest.raises(IntegrityError), transaction.atomic():
        # A second open request of the same person and role breaks a unique constraint.
        AccessRequest.objects.create(role=AccessRole.objects.get(slug="orders-readwrite"), requester=alice)
    with pytest.raises(RuntimeError), transaction.atomic():
        _cancelled(alice, 4)
        raise RuntimeError("undone")

    assert requests_total() == 1 and _exact()


@pytest.mark.django_db(transaction=True)
def test_a_truncated_table_counts_zero_again_and_the_tally_goes_on(alice, catalog):
    _cancelled(alice, 3)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE access_approval, access_accessrequest CASCADE")
    assert requests_total() == 0
    _cancelled(alice, 2)
    assert requests_total() == 2 and _exact()


@pytest.mark.django_db
def test_the_list_of_every_request_reads_the_tally_instead_of_counting(alice, carol, catalog):
    _cancelled(alice, 5)
    with CaptureQueriesContext(connection) as captured:
        response = client_for(carol).get("/api/v1/requests?scope=all&page_size=2")

    assert response.status_code == 200
    page = response.json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"] is not None
    assert not [query for query in captured.captured_queries if "COUNT(" in query["sql"].upper()]
    last = client_for(carol).get("/api/v1/requests?scope=all&page_size=2&page=3").json()
    assert last["count"] == 5 and len(last["results"]) == 1 and last["next"] is None
