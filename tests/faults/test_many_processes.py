"""Two beats and three workers at once: every grant is issued once, ended once, and announced once."""

import re

import pytest

from portal.access.models import AccessRequest, AuditEvent
from portal.core.clock import now
from tests.faults.conftest import analytics_reader, process_logs
from tests.grants.conftest import grant_for, live_tokens_of
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GRANTS = 10


def test_no_double_issue_no_double_revoke_and_no_duplicate_notification(
    stack, portal_env, worker, beat, people, catalog, restore_worker
):
    stack.start_worker(portal_env, name="fault-worker-2")
    stack.start_worker(portal_env, name="fault-worker-3")
    stack.start_beat(portal_env, name="fault-beat-2")
    readers = [analytics_reader(100 + number) for number in range(GRANTS)]

    ids = [grant_for(reader, "analytics-readonly").pk for reader in readers]
    assert wait_until(
        lambda: AccessRequest.objects.filter(pk__in=ids, state="active").count() == GRANTS, timeout_seconds=120
    )
    AccessRequest.objects.filter(pk__in=ids).update(ends_at=now())
    assert wait_until(
        lambda: AccessRequest.objects.filter(pk__in=ids, state="expired").count() == GRANTS, timeout_seconds=120
    )
    # Let any late duplicate show itself before counting.
    wait_until(lambda: False, timeout_seconds=5)

    logs = process_logs(stack)
    for pk in ids:
        events = AuditEvent.objects.filter(request_id=pk)
        assert events.filter(action="grant.issued").count() == 1, pk
        assert events.filter(action="grant.ended").count() == 1, pk
        assert events.filter(action="grant.expired").count() == 1, pk
        assert live_tokens_of(stack, pk) == []
        # Workers print e-mails with the console backend: one "ready" e-mail per grant, no more.
        assert len(re.findall(rf"Subject: \[Latchkey\] [^\n]*\(#{pk}\) is ready", logs)) == 1, pk
