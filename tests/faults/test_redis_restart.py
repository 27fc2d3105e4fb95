"""Redis restarted, losing every queued task, while 20 grants are active: each one still ends on time."""

from datetime import timedelta

import pytest
from kombu import pools

from portal.access.models import AccessRequest
from portal.celery import app
from portal.core.clock import now
from tests.faults.conftest import analytics_reader, reveal_and_remember
from tests.grants.conftest import can_log_in, grant_for, live_tokens_of
from tests.support.waiting import wait_until
from tests.support.workers import start_test_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GRANTS = 20


def test_twenty_active_grants_all_end_on_time_after_redis_lost_everything(
    stack, portal_env, worker, beat, people, catalog, restore_worker
):
    readers = [analytics_reader(number) for number in range(GRANTS)]
    requests = [grant_for(reader, "analytics-readonly") for reader in readers]
    ids = [request.pk for request in requests]
    assert wait_until(
        lambda: AccessRequest.objects.filter(pk__in=ids, state="active").count() == GRANTS, timeout_seconds=180
    ), list(AccessRequest.objects.filter(pk__in=ids).values_list("state", "last_error"))
    sample = [
        reveal_and_remember(reader, request.pk) for reader, request in list(zip(readers, requests, strict=True))[:3]
    ]
    assert all(can_log_in(body) for body in sample)

    stack.restart_redis()
    # This process's own broker connections died with Redis: drop them and start fresh pools, as Celery
    # itself does in a forked child, so that later scenarios' pings and tasks do not use a dead socket.
    pools.reset()
    app._after_fork()
    # The windows end now: the sweeper, not a task queued in the lost Redis, must notice.
    ended_at = now()
    AccessRequest.objects.filter(pk__in=ids).update(ends_at=ended_at)

    def all_expired() -> bool:
        # Celery's Redis transport can crash a worker that holds a message when the broker goes away;
        # in production the container's restart policy starts it again, here the test does.
        if stack.processes["test-worker"].exited():
            stack.processes.pop("test-worker")
            start_test_worker(stack, portal_env)
        return AccessRequest.objects.filter(pk__in=ids, state="expired").count() == GRANTS

    assert wait_until(all_expired, timeout_seconds=90), list(
        AccessRequest.objects.filter(pk__in=ids).values_list("state", "last_error")
    )
    assert now() - ended_at < timedelta(seconds=90)
    assert not [pk for pk in ids if live_tokens_of(stack, pk)]
    assert not any(can_log_in(body) for body in sample)
