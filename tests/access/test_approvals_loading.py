"""Requests bring their approvals along in one compiled read, whatever their number, as the ORM would read them."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from portal.access import selectors, services
from portal.access.models import ENDED_STATES, HOLDING_STATES, AccessRequest, Approval, load_approvals
from portal.access.services.kernel import locked
from portal.core.errors import NotFound

pytestmark = pytest.mark.django_db

WHY = "Investigating the late orders of ticket OPS-12"


@pytest.fixture
def decided(alice, bob, carol, dave, catalog):
    """Three requests: one approved by two people (orders-admin asks for two), one denied, one still pending."""
    twice = services.request_create(actor=dave, role="orders-admin", justification=WHY, ticket="OPS-1")
    services.request_approve(actor=bob, request_id=twice.pk)
    services.request_approve(actor=carol, request_id=twice.pk)
    denied = services.request_create(actor=alice, role="orders-readwrite", justification=WHY, duration_minutes=30)
    services.request_deny(actor=bob, request_id=denied.pk, comment="Not today")
    waiting = services.request_create(actor=alice, role="analytics-readonly", justification=WHY, duration_minutes=30)
    return [twice.pk, denied.pk, waiting.pk]


def as_the_orm_reads_them(request_id: int) -> list[tuple]:
    approvals = Approval.objects.filter(request_id=request_id).select_related("approver__profile")
    return [(a.pk, a.decision, a.approver.username, a.approver.profile.oid) for a in approvals]


def test_every_request_read_has_its_approvals_in_order_from_one_query(decided):
    with CaptureQueriesContext(connection) as queries:
        requests = list(AccessRequest.objects.filter(pk__in=decided).order_by("pk").with_approvals())
        loaded = {
            r.pk: [(a.pk, a.decision, a.approver.username, a.approver.profile.oid) for a in r.approval_list]
            for r in requests
        }
        back = {a.request is r for r in requests for a in r.approval_list}

    assert len(queries) == 2  # the requests, then the approvals of all three with approvers and profiles
    assert loaded == {pk: as_the_orm_reads_them(pk) for pk in decided}
    assert [len(loaded[pk]) for pk in decided] == [2, 1, 0]
    assert back == {True}


def test_a_page_a_detail_and_a_get_bring_them_along_too(decided, bob):
    visible = selectors.requests_visible_to(bob).order_by("pk")
    for read in (
        lambda: visible[:2][0],
        lambda: visible.get(pk=decided[0]),
        lambda: visible.filter(pk=decided[1]).first(),
    ):
        request = read()
        with CaptureQueriesContext(connection) as queries:
            shown = [a.pk for a in request.approval_list]
        assert len(queries) == 0
        assert shown == [pk for pk, *_ in as_the_orm_reads_them(request.pk)]


def test_loading_keeps_what_a_request_has_already_and_reads_the_rest(decided):
    first, second, _ = AccessRequest.objects.filter(pk__in=decided).order_by("pk")
    load_approvals([first])
    kept = first.approval_list

    with CaptureQueriesContext(connection) as queries:
        load_approvals([first, second])

    assert first.approval_list is kept
    assert len(queries) == 1
    assert [a.pk for a in second.approval_list] == [pk for pk, *_ in as_the_orm_reads_them(second.pk)]
    with CaptureQueriesContext(connection) as none:
        load_approvals([first, second])
    assert len(none) == 0


def test_a_persons_own_reads_are_the_orms_open_and_newest_ended_requests(decided, alice, dave):
    made_and_cancelled = selectors.OWN_HISTORY_ROWS + 2
    for _ in range(made_and_cancelled):
        made = services.request_create(actor=alice, role="orders-readwrite", justification=WHY, duration_minutes=30)
        services.request_cancel(actor=alice, request_id=made.pk)
    for person in (alice, dave):
        with CaptureQueriesContext(connection) as queries:
            own = selectors.requests_own(person)
            shown = [
                (r.pk, r.state, r.role.slug, r.requester.profile.oid, [a.pk for a in r.approval_list]) for r in own.open
            ]
            ended = [(r.pk, r.role.slug) for r in own.ended]
        assert len(queries) == 2  # the open and the newest ended requests with role and requester, then approvals
        expected = AccessRequest.objects.filter(requester=person, state__in=["pending", *HOLDING_STATES])
        assert shown == [
            (r.pk, r.state, r.role.slug, r.requester.profile.oid, [pk for pk, *_ in as_the_orm_reads_them(r.pk)])
            for r in expected
        ]
        assert len(shown) == 1  # each one's request that was not denied
        newest = AccessRequest.objects.filter(requester=person, state__in=ENDED_STATES).order_by("-created_at", "-id")
        assert ended == [(r.pk, r.role.slug) for r in newest][: selectors.OWN_HISTORY_ROWS]
        if person == alice:
            assert len(ended) == selectors.OWN_HISTORY_ROWS < made_and_cancelled + 1  # the cancelled ones, the denied

    waiting = AccessRequest.objects.get(pk=decided[2])
    assert selectors.open_request_for(user=alice, role=waiting.role).pk == waiting.pk
    assert selectors.open_request_for(user=dave, role=waiting.role) is None


def test_a_transitions_lock_is_the_orms_read_of_the_request_its_role_and_profile_and_locks_only_its_row(decided):
    for request_id in (*decided, decided[0]):
        expected = AccessRequest.objects.select_related("role", "requester__profile").get(pk=request_id)
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            found = locked(request_id)
            read = (found.state, found.role.slug, found.requester.username, found.requester.profile.groups)

        assert len(queries) == 1
        assert 'FOR UPDATE OF "access_accessrequest"' in queries[0]["sql"]
        assert (found.pk, found.updated_at, found.justification) == (
            expected.pk,
            expected.updated_at,
            expected.justification,
        )
        assert read == (
            expected.state,
            expected.role.slug,
            expected.requester.username,
            expected.requester.profile.groups,
        )

    with transaction.atomic(), pytest.raises(NotFound, match="no request #999999"):
        locked(999999)
