"""The sweeper ends a few grants itself, each committed apart; many it hands to tasks that end them in parallel."""

from datetime import timedelta

import pytest
from django.db import connection

from portal.access.models import AccessRequest
from portal.access.services import sweeper
from portal.core.clock import now
from portal.core.errors import InvalidTransition
from tests.bench.conftest import active_grants
from tests.support.clock import clock_at

pytestmark = pytest.mark.django_db

State = AccessRequest.State


def ended_grants(users, role) -> list[int]:
    past = now() - timedelta(seconds=5)
    return active_grants(users, role, ends_at=past, minutes=1, updated_at=past - timedelta(minutes=1))


def test_a_few_grants_past_their_end_are_ended_by_the_sweeper_each_committed_apart(
    catalog, engineers, monkeypatch, sent, django_capture_on_commit_callbacks
):
    ids = ended_grants(engineers(8), catalog["analytics-readonly"])
    original = sweeper.grant_expire
    depths = []

    def expire(*, request_id):
        # The transactions open around each ending: the test's own, and none of the sweeper's.
        depths.append(len(connection.atomic_blocks))
        return original(request_id=request_id)

    monkeypatch.setattr(sweeper, "grant_expire", expire)
    outside = len(connection.atomic_blocks)

    with django_capture_on_commit_callbacks(execute=True):
        ended = sweeper._sweep_ended()

    assert ended == (8, 0)
    assert depths == [outside] * 8
    assert set(AccessRequest.objects.filter(pk__in=ids).values_list("state", flat=True)) == {State.REVOKING}
    assert sorted(sent) == sorted(("revoke_grant", (pk,)) for pk in ids)


def test_many_grants_past_their_end_are_handed_to_expire_tasks_once(
    catalog, engineers, monkeypatch, sent, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(sweeper, "SWEEP_ENDED_INLINE", 3)
    monkeypatch.setattr(sweeper, "REVOKE_BATCH", 3)
    ids = ended_grants(engineers(7), catalog["analytics-readonly"])

    with django_capture_on_commit_callbacks(execute=True):
        first = sweeper._sweep_ended()
        second = sweeper._sweep_ended()

    assert (first, second) == ((0, 7), (0, 0))
    # In batches of REVOKE_BATCH, in the order of their ends: each grant handed over once.
    assert sent == [("expire_grants", (ids[0:3],)), ("expire_grants", (ids[3:6],)), ("expire_grants", (ids[6:],))]
    # Handed over, not ended here: the tasks end them.
    assert AccessRequest.objects.filter(pk__in=ids, state=State.ACTIVE).count() == 7

    # Still active a while later (a task lost): handed over again.
    sent.clear()
    with clock_at(now() + sweeper.EXPIRE_REDRIVE_AFTER + timedelta(seconds=1)):
        with django_capture_on_commit_callbacks(execute=True):
            assert sweeper._sweep_ended() == (0, 7)
    assert sorted(pk for _, (batch,) in sent for pk in batch) == ids


def test_a_grant_whose_end_moved_does_not_stop_the_sweep(
    catalog, engineers, monkeypatch, django_capture_on_commit_callbacks
):
    ids = ended_grants(engineers(5), catalog["analytics-readonly"])
    original = sweeper.grant_expire

    def extended_meanwhile(*, request_id):
        if request_id == ids[0]:
            raise InvalidTransition("extended meanwhile")
        return original(request_id=request_id)

    monkeypatch.setattr(sweeper, "grant_expire", extended_meanwhile)

    with django_capture_on_commit_callbacks():
        ended = sweeper._sweep_ended()

    assert ended == (4, 0)
    assert AccessRequest.objects.get(pk=ids[0]).state == State.ACTIVE
