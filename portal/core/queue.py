"""Hand work to Celery by task name once the transaction commits: services never import their tasks.

A task never runs for a state the database has not recorded, and a services module that its
tasks module imports needs no import of it in return (no circle).
"""

from datetime import datetime

from django.db import transaction

from portal.celery import app
from portal.integrations.notify import webhook_urls


def send(task: str, *args, eta: datetime | None = None) -> None:
    """Queue the Celery task named `task` now (its arguments are IDs and names, never a secret)."""
    app.signature(task, args=args).apply_async(eta=eta)


def on_commit(task: str, *args, eta: datetime | None = None) -> None:
    """Queue the Celery task named `task` once the caller's transaction commits."""
    transaction.on_commit(lambda: send(task, *args, eta=eta))


def notify_on_commit(*, email_task: str, webhook_task: str, args: tuple) -> None:
    """Once the transaction commits, queue the e-mail task and one webhook task per configured channel."""

    def send_all() -> None:
        send(email_task, *args)
        for channel in webhook_urls():
            send(webhook_task, *args, channel)

    transaction.on_commit(send_all)
