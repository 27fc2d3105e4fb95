"""Notifications have a queue of their own, which every worker also serves, so they never delay a revocation."""

import pytest

from portal.celery import app
from tests.support.waiting import wait_until


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize("task", ["notify_email", "notify_webhook"])
def test_notifications_go_to_their_own_queue(task):
    assert queue_of(f"portal.access.tasks.{task}") == "notifications"


@pytest.mark.parametrize("task", ["issue_grant", "revoke_grant", "expire_grant", "sweep", "retire_tokens"])
def test_issuing_and_revocation_stay_on_the_default_queue(task):
    assert queue_of(f"portal.access.tasks.{task}") == "celery"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("queue", ["celery", "notifications"])
def test_the_stacks_worker_runs_tasks_of_both_queues(celery_worker, queue):
    from portal.core.models import Heartbeat
    from portal.core.tasks import worker_heartbeat

    Heartbeat.objects.filter(name="worker").delete()

    worker_heartbeat.apply_async(queue=queue)

    assert wait_until(lambda: Heartbeat.objects.filter(name="worker").exists(), timeout_seconds=60), (
        celery_worker.log_tail()
    )
