"""A worker that dies while issuing leaves one credential or none, never one the portal does not know."""

from datetime import timedelta

import pytest

from portal.access import services
from portal.access.audit import audit_record
from portal.access.models import AccessRequest, Approval, AuditAction, AuditEvent
from portal.core.clock import now
from portal.integrations import vault
from tests.grants.conftest import grant_for, live_tokens_of, wait_for_state
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _long_ago():
    return now() - services.issuing_stuck_after() - timedelta(seconds=1)


def test_recovery_revokes_the_token_of_a_dead_issue_and_issues_exactly_one_again(stack, worker, beat, people, catalog):
    # Stand in for a worker that claimed the approved request, created its token, committed the
    # accessor and died before reading the credentials.
    request = grant_for(people["alice"], "orders-readwrite")
    Approval.objects.create(request=request, approver=people["bob"], decision="approve")
    # Approved as the decision service approves: the history holds the approval the worker checks.
    audit_record(actor=people["bob"], action=AuditAction.REQUEST_APPROVED, request=request)
    orphan = vault.create_grant_token(
        mount="database", role="orders-readwrite", ttl_seconds=60, metadata={"request_id": str(request.pk)}
    )
    AccessRequest.objects.filter(pk=request.pk).update(
        state="issuing", vault_token_accessor=orphan.accessor, updated_at=_long_ago()
    )

    assert wait_until(
        lambda: AccessRequest.objects.get(pk=request.pk).vault_token_accessor not in ("", orphan.accessor),
        timeout_seconds=30,
    )
    grant = wait_for_state(request.pk, "active")

    assert not vault.grant_token_alive(accessor=orphan.accessor)
    assert live_tokens_of(stack, grant.pk) == [grant.vault_token_accessor]
    recovered = AuditEvent.objects.get(request=grant, action="grant.issue_recovered")
    assert recovered.details["revoked_token_accessor"] == orphan.accessor


def test_recovery_waits_for_vault_and_keeps_the_accessor_until_the_token_is_revoked(stack, people, catalog):
    request = grant_for(people["alice"], "analytics-readonly")
    orphan = vault.create_grant_token(
        mount="database", role="analytics-readonly", ttl_seconds=60, metadata={"request_id": str(request.pk)}
    )
    AccessRequest.objects.filter(pk=request.pk).update(
        state="issuing", vault_token_accessor=orphan.accessor, updated_at=_long_ago()
    )
    stack.stop_vault()
    try:
        with pytest.raises(vault.VaultUnavailable):
            services.grant_recover(request_id=request.pk)
    finally:
        stack.start_vault()

    stuck = AccessRequest.objects.get(pk=request.pk)
    assert (stuck.state, stuck.vault_token_accessor) == ("issuing", orphan.accessor)
    assert stuck.last_error
