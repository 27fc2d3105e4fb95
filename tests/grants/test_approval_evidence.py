"""Someone with the database alone cannot approve: a grant is issued only for an approval the history proves."""

import hashlib

import pytest
from django.db import connection

from portal.access import services
from portal.access.audit import CHAIN_KEYED, audit_proves
from portal.access.models import AccessRequest, AuditAction, AuditEvent
from tests.grants.conftest import WHY

pytestmark = pytest.mark.django_db
State = AccessRequest.State


def _approved_in_the_database_only(alice) -> AccessRequest:
    """Ask for a role that needs an approval, then move the row to `approved` with SQL, as a database intruder would."""
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE access_accessrequest SET state = 'approved' WHERE id = %s", [request.pk])
    return request


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
    AuditEvent.objects.create(
        actor_label="system",
        action=AuditAction.REQUEST_APPROVED,
        request=request,
        role=request.role,
        details={"auto": True},
        prev_hash=last.hash,
        hash="f" * 64,
        at=last.at,
    )

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
    forged = AuditEvent(
        actor_label="system",
        action=AuditAction.REQUEST_APPROVED,
        request=request,
        role=request.role,
        details={"auto": True},
        prev_hash=last.hash,
        at=last.at,
    )
    forged.hash = hashlib.sha256((forged.prev_hash + forged.canonical()).encode()).hexdigest()
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
