from celery import shared_task

from portal.core.services import heartbeat_record


@shared_task
def worker_heartbeat() -> None:
    """Record that a worker took a task off the queue."""
    heartbeat_record(name="worker")
