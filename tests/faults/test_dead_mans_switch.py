"""Worker and beat both down: Vault's own token lifetime ends the credential within 30 s of its end."""

from datetime import timedelta

import pytest

from portal.core.clock import now
from tests.faults.conftest import reveal_and_remember
from tests.grants.conftest import can_log_in, grant_for, wait_for_state
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.mark.long
def test_with_no_worker_and_no_beat_vault_ends_the_credential_by_itself(
    stack, worker, beat, people, catalog, restore_worker
):
    grant = wait_for_state(grant_for(people["alice"], "analytics-readonly", minutes=1).pk, "active")
    body = reveal_and_remember(people["alice"], grant.pk)
    assert can_log_in(body)

    stack.stop_process("test-beat")
    stack.stop_process("test-worker")
    deadline = grant.ends_at + timedelta(seconds=30)

    assert wait_until(lambda: not can_log_in(body), timeout_seconds=(deadline - now()).total_seconds(), interval=1)
    assert grant.ends_at - timedelta(seconds=5) <= now()
