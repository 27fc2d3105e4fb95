"""Background work of break-glass: its loud notifications and the escalation of overdue reviews."""

import logging

from celery import shared_task

from portal.breakglass import services
from portal.breakglass.models import BreakGlassUse
from portal.breakglass.notifications import message_for
from portal.integrations import notify

logger = logging.getLogger(__name__)


def _use(use_id: int) -> BreakGlassUse:
    return BreakGlassUse.objects.select_related("request__requester__profile", "role", "reviewer__profile").get(
        pk=use_id
    )


@shared_task(**notify.TASK_RETRY)
def notify_email(use_id: int, event: str) -> None:
    """E-mail the admins (and approvers) about a break-glass event."""
    message = message_for(_use(use_id), event)
    notify.send_email(to=message.to, subject=message.subject, body=message.body)


@shared_task(**notify.TASK_RETRY)
def notify_webhook(use_id: int, event: str, channel: str) -> None:
    """Post a break-glass event to the Slack or Teams channel."""
    message = message_for(_use(use_id), event)
    notify.post_webhook(channel=channel, text=message.body)


@shared_task
def escalate_overdue_reviews() -> None:
    """Tell the admins about break-glass uses that nobody reviewed in time."""
    escalated = services.break_glass_escalate_due()
    if escalated:
        logger.info("Escalated %s overdue break-glass review(s)", escalated)
