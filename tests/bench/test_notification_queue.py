"""Revocations, issuing and notifications have a queue each, which every worker serves in that order, so
neither a burst of e-mails nor one of issues delays a revocation."""

import pytest

from portal.celery import app
from tests.support.waiting import wait_until


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize("task", ["notify_email", "notify_webhook"])
def test_notifications_go_to_their_own_queue(task):
    assert queue_of(f"portal.access.tasks.{task}") == "notifications"


@pytest.mark.parametrize(
    "task", ["revoke_grant", "expire_grant", "revoke_grants", "expire_grants", "sweep", "retire_tokens"]
)
def test_revocation_and_the_sweeper_go_to_the_revocations_queue(task):
    assert queue_of(f"portal.access.tasks.{task}") == "revocations"


@pytest.mark.parametrize("task", ["issue_grant", "recover_grant"])
def test_issuing_stays_on_the_default_queue(task):
    assert queue_of(f"portal.access.tasks.{task}") == "celery"


def test_workers_take_revocations_first_and_notifications_last():
    from django.conf import settings

    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["queue_order_strategy"] == "priority"
    assert [queue.name for queue in settings.CELERY_TASK_QUEUES] == ["revocations", "celery", "notifications"]
    assert settings.WORKER_QUEUES == "revocations,celery,notifications"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("queue", ["revocations", "celery", "notifications"])
def test_the_stacks_worker_runs_tasks_of_both_queues(celery_worker, queue):
    from portal.core.models import Heartbeat
    from portal.core.tasks import worker_heartbeat

    Heartbeat.objects.filter(name="worker").delete()

    worker_heartbeat.apply_async(queue=queue)

    assert wait_until(lambda: Heartbeat.objects.filter(name="worker").exists(), timeout_seconds=60), (
        celery_worker.log_tail()
    )
