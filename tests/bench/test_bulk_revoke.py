"""Bulk revocation moves and records grants in batches: one update and one insert of events per batch."""

from datetime import timedelta

import pytest

from portal.access import services
from portal.access.audit import audit_verify
from portal.access.models import AccessRequest, AuditEvent
from portal.access.services import revocation
from portal.core.clock import now
from tests.bench.conftest import active_grants
from tests.support.personas import make_user

pytestmark = pytest.mark.django_db

State = AccessRequest.State


def test_bulk_revocation_moves_records_and_queues_each_grant_in_batches(
    catalog, engineers, monkeypatch, sent, django_capture_on_commit_callbacks
):
    carol = make_user("carol")
    monkeypatch.setattr(revocation, "BULK_REVOKE_BATCH", 2)
    role = catalog["analytics-readonly"]
    ids = active_grants(engineers(5), role, ends_at=now() + timedelta(hours=1), minutes=60)
    # Already on its way out: left alone.
    AccessRequest.objects.filter(pk=ids[2]).update(state=State.REVOKING)

    with django_capture_on_commit_callbacks(execute=True):
        revoked = services.grants_revoke_bulk(actor=carol, role=role, reason="Role retired")

    expected = [pk for pk in ids if pk != ids[2]]
    assert [request.pk for request in revoked] == expected
    rows = AccessRequest.objects.filter(pk__in=expected)
    assert {(row.state, row.revoked_by_id, row.revoke_reason, row.closing_as) for row in rows} == {
        (State.REVOKING, carol.pk, "Role retired", State.REVOKED)
    }
    events = AuditEvent.objects.filter(action="grant.revoke_requested").order_by("id")
    assert [event.request_id for event in events] == expected
    assert {event.actor_id for event in events} == {carol.pk}
    assert all(event.details == {"reason": "Role retired"} for event in events)
    # One revocation task per batch, with the batch's grants: each grant handed over once.
    assert sent == [("revoke_grants", (expected[:2],)), ("revoke_grants", (expected[2:],))]
    assert audit_verify() is None

    # Again: nothing left to revoke, nothing written.
    with django_capture_on_commit_callbacks(execute=True):
        assert services.grants_revoke_bulk(actor=carol, role=role, reason="Role retired") == []
    assert AuditEvent.objects.filter(action="grant.revoke_requested").count() == len(expected)
