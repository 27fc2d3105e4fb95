"""The sweeper ends many grants at once in small transactions, so that revoking starts before it is done."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.access.models import AccessRequest
from portal.access.services import sweeper
from portal.core.clock import now
from portal.core.errors import InvalidTransition

pytestmark = pytest.mark.django_db

State = AccessRequest.State


def ended_grants(users, role) -> list[int]:
    past = now() - timedelta(seconds=5)
    return [
        AccessRequest.objects.create(
            role=role,
            requester=user,
            state=State.ACTIVE,
            justification="Investigate the late orders of ticket OPS-12",
            duration_minutes=1,
            starts_at=past - timedelta(minutes=1),
            ends_at=past,
        ).pk
        for user in users
    ]


def test_one_sweep_ends_more_grants_than_a_batch_each_batch_committed_apart(
    catalog, engineers, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(sweeper, "SWEEP_ENDED_BATCH", 3)
    ids = ended_grants(engineers(8), catalog["analytics-readonly"])

    with django_capture_on_commit_callbacks() as queued, CaptureQueriesContext(connection) as queries:
        ended = sweeper._sweep_ended()

    assert ended == 8
    claims = [query for query in queries if "SKIP LOCKED" in query["sql"]]
    assert len(claims) == 3
    assert set(AccessRequest.objects.filter(pk__in=ids).values_list("state", flat=True)) == {State.REVOKING}
    assert len(queued) == 8


def test_a_sweep_stops_after_its_batch_limit_and_leaves_the_rest_to_the_next(
    catalog, engineers, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(sweeper, "SWEEP_ENDED_BATCH", 2)
    monkeypatch.setattr(sweeper, "SWEEP_ENDED_MAX_BATCHES", 2)
    ids = ended_grants(engineers(7), catalog["analytics-readonly"])

    with django_capture_on_commit_callbacks():
        first = sweeper._sweep_ended()
        second = sweeper._sweep_ended()

    assert (first, second) == (4, 3)
    assert AccessRequest.objects.filter(pk__in=ids, state=State.ACTIVE).count() == 0


def test_a_grant_whose_end_moved_does_not_stop_the_sweep(
    catalog, engineers, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(sweeper, "SWEEP_ENDED_BATCH", 2)
    ids = ended_grants(engineers(5), catalog["analytics-readonly"])
    original = sweeper.grant_expire

    def extended_meanwhile(*, request_id):
        if request_id == ids[0]:
            raise InvalidTransition("extended meanwhile")
        return original(request_id=request_id)

    monkeypatch.setattr(sweeper, "grant_expire", extended_meanwhile)

    with django_capture_on_commit_callbacks():
        ended = sweeper._sweep_ended()

    assert ended == 4
    assert AccessRequest.objects.get(pk=ids[0]).state == State.ACTIVE
