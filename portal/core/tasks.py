import logging

from celery import shared_task

from portal.core.services import heartbeat_record

logger = logging.getLogger(__name__)


@shared_task
def worker_heartbeat() -> None:
    """Record that a worker took a task off the queue."""
    heartbeat_record(name="worker")
