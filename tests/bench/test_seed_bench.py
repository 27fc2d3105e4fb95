"""`bench.seed`: a large history in bulk whose audit chain still verifies."""

import pytest

from bench.seed import SeedError, seed_history
from portal.access import services
from portal.access.audit import audit_verify
from portal.access.models import AccessRequest, AuditEvent
from portal.access.selectors import requests_total

pytestmark = pytest.mark.django_db


def seed(**sizes):
    options = {"requests": 60, "events": 500, "users": 12, "pending": 4} | sizes
    seed_history(say=lambda line: None, **options)


def test_seeded_events_extend_the_existing_chain_and_it_verifies(catalog, alice):
    services.request_create(actor=alice, role="analytics-readonly", justification="Check the nightly export")
    before = AuditEvent.objects.count()

    seed()

    assert AccessRequest.objects.count() == 61
    assert AuditEvent.objects.count() == before + 500
    assert audit_verify() is None


def test_a_second_seeding_adds_to_the_first_and_the_chain_still_verifies(catalog):
    before = AuditEvent.objects.count()
    seed()
    seed(requests=30, events=90, pending=2)

    assert AccessRequest.objects.count() == 90
    # COPY fires the requests' tally triggers too: the list of every request reads the right number.
    assert requests_total() == 90
    assert AuditEvent.objects.count() == before + 590
    assert audit_verify() is None


def test_seeded_pending_requests_wait_in_bobs_review_queue(catalog, bob):
    from portal.access.selectors import requests_to_review

    seed(pending=5)

    assert requests_to_review(bob).count() == 5


def test_seeded_pending_requests_are_not_expired_by_the_sweeper(catalog, bob):
    """A small history spreads its requests over a year: the waiting ones must still be recent, or the sweeper
    expires them and the approval queue is timed nearly empty on the history that has a worker."""
    from portal.access.selectors import requests_to_review, stale_pending_request_ids

    seed(requests=40, events=200, pending=5)

    assert stale_pending_request_ids() == []
    assert services.requests_expire_stale() == 0
    assert requests_to_review(bob).count() == 5


def test_each_person_waiting_for_review_has_earlier_requests_to_show_beside_it(catalog, bob):
    """The approval queue shows each requester's newest requests: a small history must fill them as a large one."""
    from portal.access.selectors import RECENT_LIMIT, requests_to_review

    seed(requests=400, events=800, users=200, pending=4)

    waiting = list(requests_to_review(bob))
    assert len(waiting) == 4
    for request in waiting:
        assert AccessRequest.objects.filter(requester=request.requester).exclude(pk=request.pk).count() >= RECENT_LIMIT


def test_seeding_an_edited_row_is_still_caught_by_the_chain(catalog):
    from tests.support.audit_tamper import tamper

    seed()
    victim = AuditEvent.objects.order_by("id")[200]
    tamper("UPDATE access_auditevent SET action = 'grant.revoked' WHERE id = %s", [victim.pk])

    broken = audit_verify()

    assert broken is not None and broken.event_id == victim.pk


def test_seeding_without_a_catalog_is_refused(db):
    with pytest.raises(SeedError, match="catalog"):
        seed()


def test_more_pending_requests_than_users_is_refused(catalog):
    with pytest.raises(SeedError, match="pending"):
        seed(users=3, pending=5)


def test_the_history_filter_offers_each_seeded_action_once_in_order(catalog):
    from portal.access.selectors import audit_actions

    seed()

    assert audit_actions() == sorted(set(AuditEvent.objects.values_list("action", flat=True)))
    assert "request.created" in audit_actions()


def test_the_heavy_users_list_is_more_than_a_page_in_a_small_seeding(catalog, alice):
    """Her API list is timed on the small history and on the whole one: both must fill the first page (50)."""
    seed(requests=1000, events=2000, users=150, pending=100)

    assert AccessRequest.objects.filter(requester=alice).count() > 50
