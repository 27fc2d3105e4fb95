"""With every portal process down, a grant's credential still stops at the end of its window."""

from datetime import timedelta

import pytest

from portal.core.clock import now
from tests.grants.conftest import can_log_in, grant_for, reveal, wait_for_state
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.mark.long
def test_credential_stops_within_30_seconds_of_the_end_with_worker_and_beat_stopped(
    stack, worker, beat, people, catalog
):
    grant = wait_for_state(grant_for(people["alice"], "analytics-readonly", minutes=1).pk, "active")
    body = reveal(people["alice"], grant.pk)
    assert can_log_in(body)

    stack.stop_process("test-beat")
    stack.stop_process("test-worker")
    deadline = grant.ends_at + timedelta(seconds=30)

    assert wait_until(lambda: not can_log_in(body), timeout_seconds=(deadline - now()).total_seconds(), interval=1)
