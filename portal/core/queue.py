"""Hand work to Celery by task name once the transaction commits: services never import their tasks.

A task never runs for a state the database has not recorded, and a services module that its
tasks module imports needs no import of it in return (no circle).

In a web request, what its transactions committed is queued once its answer has been sent
(`request_finished`), not before: a worker that picks the task up at once then no longer takes
a core from the answer, and the person is not kept waiting for the broker. Only what commits while
the request is handled (`SendAfterAnswerMiddleware`) waits; anywhere else (a worker, beat, a command,
or code that runs after a request whose answer was never closed) it is queued as soon as the
transaction commits.
"""

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from django.core import signals
from django.db import transaction

from portal.celery import app
from portal.integrations.notify import webhook_urls

logger = logging.getLogger(__name__)

# Per thread: whether a web request is being handled (`holding`), and the sends its commits left for after its
# answer (`sends`; None: none waiting).
_after_answer = threading.local()


def send(task: str, *args, eta: datetime | None = None) -> None:
    """Queue the Celery task named `task` now (its arguments are IDs and names, never a secret)."""
    app.signature(task, args=args).apply_async(eta=eta)


def _when_answered(sends: Callable[[], None]) -> None:
    """Run `sends` once the current web request has been answered, or now outside a web request."""
    if getattr(_after_answer, "holding", False):
        _after_answer.sends.append(sends)
    else:
        sends()


def on_commit(task: str, *args, eta: datetime | None = None) -> None:
    """Queue the Celery task named `task` once the caller's transaction commits."""
    transaction.on_commit(lambda: _when_answered(lambda: send(task, *args, eta=eta)))


def notify_on_commit(*, email_task: str, webhook_task: str, args: tuple) -> None:
    """Once the transaction commits, queue the e-mail task and one webhook task per configured channel."""

    def send_all() -> None:
        send(email_task, *args)
        for channel in webhook_urls():
            send(webhook_task, *args, channel)

    transaction.on_commit(lambda: _when_answered(send_all))


class SendAfterAnswerMiddleware:
    """Hold what the request's commits queue while it is handled (the outermost middleware): `send_held` sends it
    once the answer is out. Anything a request before left, its answer never closed, is sent first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        send_held()
        _after_answer.sends, _after_answer.holding = [], True
        try:
            return self.get_response(request)
        finally:
            _after_answer.holding = False


def send_held(**kwargs) -> None:
    """`request_finished`: queue what the request's commits left, in their order; the answer is out.

    Each send is tried: one that fails (the broker away) is logged and the others still go. The sweeper
    queues again the issuing and the revocations whose task never came.
    """
    held, _after_answer.sends = getattr(_after_answer, "sends", None), None
    for sends in held or ():
        try:
            sends()
        except Exception:  # noqa: BLE001 - the answer is sent: a failure is logged, and the next send still tried
            logger.exception("A task could not be queued after the answer; the sweeper queues it again if it must.")


signals.request_finished.connect(send_held, dispatch_uid="portal.core.queue.send_held")
