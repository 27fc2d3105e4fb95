"""Vault unreachable for 60 seconds across an issue and an end: requests wait, then everything completes."""

import signal
import time
from datetime import timedelta

import pytest

from portal.access.models import AccessRequest
from portal.access.services import REVOKE_REDRIVE_AFTER
from portal.core.clock import now
from tests.faults.conftest import analytics_reader, reveal_and_remember
from tests.grants.conftest import can_log_in, client_for, grant_for, live_tokens_of, wait_for_state
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 60


def _api_state(user, request_id: int) -> dict:
    return client_for(user).get(f"/api/v1/requests/{request_id}").json()


@pytest.mark.long
def test_a_minute_without_vault_delays_issue_and_end_but_fails_nothing_and_leaves_no_credential(
    stack, worker, beat, people, catalog
):
    holder = analytics_reader(1)
    active = wait_for_state(grant_for(holder, "analytics-readonly").pk, "active", timeout_seconds=60)
    body = reveal_and_remember(holder, active.pk)
    assert can_log_in(body)

    vault_process = stack.processes["openbao"]
    vault_process.signal(signal.SIGSTOP)
    try:
        waiting = grant_for(people["alice"], "analytics-readonly")
        # The window of the active grant ends during the outage.
        AccessRequest.objects.filter(pk=active.pk).update(ends_at=now())
        assert wait_until(
            lambda: (
                _api_state(people["alice"], waiting.pk)["waiting_for_vault"]
                and _api_state(holder, active.pk)["waiting_for_vault"]
            ),
            timeout_seconds=OUTAGE_SECONDS - 5,
        ), (_api_state(people["alice"], waiting.pk), _api_state(holder, active.pk))
        time.sleep(max(0.0, OUTAGE_SECONDS - 5 - (now() - active.ends_at).total_seconds()))
        assert AccessRequest.objects.get(pk=waiting.pk).state in ("approved", "issuing")
        assert AccessRequest.objects.get(pk=active.pk).state == "revoking"
    finally:
        vault_process.signal(signal.SIGCONT)
    back = now()

    ended = wait_for_state(active.pk, "expired", timeout_seconds=60)
    issued = wait_for_state(waiting.pk, "active", timeout_seconds=120)

    # Revocation is driven again by the sweeper every REVOKE_REDRIVE_AFTER; 30 s more for the work itself.
    assert ended.updated_at - back <= REVOKE_REDRIVE_AFTER + timedelta(seconds=30)
    assert not can_log_in(body)
    assert live_tokens_of(stack, ended.pk) == []
    assert live_tokens_of(stack, issued.pk) == [issued.vault_token_accessor]
    assert not issued.last_error
    assert can_log_in(reveal_and_remember(people["alice"], issued.pk))
