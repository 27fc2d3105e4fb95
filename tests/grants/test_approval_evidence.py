"""Someone with the database alone cannot approve: a grant is issued only for an approval the history proves."""

import hashlib

import pytest
from django.db import connection, transaction

from portal.access import services
from portal.access.audit import CHAIN_KEYED, audit_chain_take_over, audit_proves
from portal.access.models import AccessRequest, AuditAction, AuditEvent
from portal.core.clock import now
from tests.grants.conftest import WHY

pytestmark = pytest.mark.django_db
State = AccessRequest.State


def _approved_in_the_database_only(alice) -> AccessRequest:
    """Ask for a role that needs an approval, then move the row to `approved` with SQL, as a database intruder would."""
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE access_accessrequest SET state = 'approved' WHERE id = %s", [request.pk])
    return request


def _forged_approval(request, *, at, **fields) -> AuditEvent:
    """Return (unsaved) the approval of `request` that an intruder with the database would write."""
    return AuditEvent(
        actor_label="system",
        action=AuditAction.REQUEST_APPROVED,
        request=request,
        role=request.role,
        details={"auto": True},
        at=at,
        **fields,
    )


def _unkeyed(event: AuditEvent, prev: AuditEvent) -> AuditEvent:
    """Chain and hash `event` after `prev` as releases before the key did (anyone with the database can)."""
    event.prev_hash = prev.hash
    event.hash = hashlib.sha256((event.prev_hash + event.canonical()).encode()).hexdigest()
    return event


def test_a_request_approved_only_in_the_database_is_not_issued(alice, catalog):
    request = _approved_in_the_database_only(alice)

    issued = services.grant_issue(request_id=request.pk)

    assert issued.state == State.FAILED
    assert issued.vault_token_accessor == ""
    refusal = AuditEvent.objects.get(request=request, action=AuditAction.GRANT_NOT_ISSUED)
    assert refusal.details == {"reason": "approval_unproven"}


def test_a_forged_approval_event_does_not_count(alice, catalog):
    request = _approved_in_the_database_only(alice)
    last = AuditEvent.objects.order_by("-id").first()
    # Without the chain's key, the intruder can only guess the HMAC.
    _forged_approval(request, at=last.at, prev_hash=last.hash, hash="f" * 64).save()

    assert not audit_proves(request=request, action=AuditAction.REQUEST_APPROVED)
    assert services.grant_issue(request_id=request.pk).state == State.FAILED


def test_an_approval_by_an_approver_is_proven(alice, bob, catalog):
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    assert not audit_proves(request=request, action=AuditAction.REQUEST_APPROVED)

    services.request_approve(actor=bob, request_id=request.pk, comment="ok")

    assert audit_proves(request=request, action=AuditAction.REQUEST_APPROVED)


def test_a_forged_switch_to_the_keyed_chain_does_not_make_a_forged_unkeyed_approval_count(alice, catalog):
    request = _approved_in_the_database_only(alice)
    last = AuditEvent.objects.order_by("-id").first()
    # The intruder hashes the approval as the unkeyed chain of earlier releases did (anyone can), then adds a
    # switch to the keyed chain after it, which would say that every event before it is unkeyed.
    forged = _unkeyed(_forged_approval(request, at=last.at), last)
    forged.save()
    AuditEvent.objects.create(
        actor_label="system",
        action=CHAIN_KEYED,
        details={"unkeyed_through": forged.pk},
        prev_hash=forged.hash,
        hash="f" * 64,
        at=last.at,
    )

    assert not audit_proves(request=request, action=AuditAction.REQUEST_APPROVED)
    assert services.grant_issue(request_id=request.pk).state == State.FAILED


def test_a_proof_reads_the_history_once(alice, bob, catalog, django_assert_num_queries):
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    services.request_approve(actor=bob, request_id=request.pk, comment="ok")

    # The approval's events and the switch to the keyed chain (none here) in one query.
    with django_assert_num_queries(1):
        assert audit_proves(request=request, action=AuditAction.REQUEST_APPROVED)


def _earlier_release_events(request, *, approved: bool) -> tuple[AuditEvent, int]:
    """Write three events the unkeyed way, with a free ID after the first (an insert rolled back), and the
    approval of `request` among them if `approved`; key the chain from there. Return the first and the free ID."""

    def event(action=AuditAction.REQUEST_CREATED, **fields) -> AuditEvent:
        return AuditEvent(actor_label="system", action=action, role=request.role, at=now(), details={}, **fields)

    first = _unkeyed(event(), AuditEvent.objects.order_by("-id").first())
    first.save()
    try:
        with transaction.atomic():
            lost = _unkeyed(event(), first)
            lost.save()
            raise RuntimeError(lost.pk)
    except RuntimeError as rolled_back:
        free = rolled_back.args[0]
    last = first
    for action in (
        AuditAction.REQUEST_APPROVED if approved else AuditAction.REQUEST_CREATED,
        AuditAction.REQUEST_CREATED,
    ):
        last = _unkeyed(event(action, request=request), last)
        last.save()
    audit_chain_take_over()
    return first, free


def test_an_approval_written_before_the_chain_was_keyed_still_proves_it(alice, catalog):
    request = _approved_in_the_database_only(alice)
    _earlier_release_events(request, approved=True)

    assert audit_proves(request=request, action=AuditAction.REQUEST_APPROVED)


def test_an_unkeyed_approval_forged_into_a_free_id_of_the_earlier_history_does_not_count(alice, catalog):
    request = _approved_in_the_database_only(alice)
    first, free = _earlier_release_events(request, approved=False)
    # Hashed the unkeyed way, linked to the event before the free ID: nothing but its ID says it is new.
    forged = _unkeyed(_forged_approval(request, at=first.at, id=free), first)
    forged.save(force_insert=True)

    assert not audit_proves(request=request, action=AuditAction.REQUEST_APPROVED)
    assert services.grant_issue(request_id=request.pk).state == State.FAILED
