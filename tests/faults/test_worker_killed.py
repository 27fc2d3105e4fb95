"""A worker killed with SIGKILL while issuing or revoking: after a restart each request ends right, once."""

import signal

import pytest

from portal.access import services
from portal.access.models import AccessRequest, AuditEvent
from portal.core.clock import now
from tests.faults.conftest import reveal_and_remember
from tests.grants.conftest import can_log_in, grant_for, live_tokens_of, wait_for_state
from tests.support.workers import start_test_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _abandoned():
    return now() - services.issuing_stuck_after()


def test_a_worker_killed_while_issuing_leaves_one_credential_that_the_portal_knows(
    stack, portal_env, worker, beat, people, catalog, restore_worker
):
    vault_process = stack.processes["openbao"]
    vault_process.signal(signal.SIGSTOP)
    try:
        request = grant_for(people["alice"], "analytics-readonly")
        wait_for_state(request.pk, "issuing")
        stack.processes.pop("test-worker").kill()
    finally:
        vault_process.signal(signal.SIGCONT)
    start_test_worker(stack, portal_env)
    # The dead worker's claim counts as abandoned once a worker's longest time has passed.
    AccessRequest.objects.filter(pk=request.pk, state="issuing").update(updated_at=_abandoned())

    grant = wait_for_state(request.pk, "active", timeout_seconds=60)

    assert live_tokens_of(stack, grant.pk) == [grant.vault_token_accessor]
    assert AuditEvent.objects.filter(request=grant, action="grant.issued").count() == 1
    assert can_log_in(reveal_and_remember(people["alice"], grant.pk))


def test_a_worker_killed_while_revoking_is_replaced_and_the_credential_is_gone(
    stack, portal_env, worker, beat, people, catalog, restore_worker
):
    grant = wait_for_state(grant_for(people["alice"], "analytics-readonly").pk, "active", timeout_seconds=60)
    body = reveal_and_remember(people["alice"], grant.pk)
    vault_process = stack.processes["openbao"]
    vault_process.signal(signal.SIGSTOP)
    try:
        services.grant_revoke(actor=people["alice"], request_id=grant.pk, reason="Done early")
        # Give the worker the time to take the task and block on Vault.
        assert wait_for_state(grant.pk, "revoking").state == "revoking"
        stack.processes.pop("test-worker").kill()
    finally:
        vault_process.signal(signal.SIGCONT)
    start_test_worker(stack, portal_env)

    revoked = wait_for_state(grant.pk, "revoked", timeout_seconds=60)

    assert live_tokens_of(stack, revoked.pk) == []
    assert not can_log_in(body)
    assert AuditEvent.objects.filter(request=revoked, action="grant.revoked").count() == 1
