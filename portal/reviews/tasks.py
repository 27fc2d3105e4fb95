"""Background work of access reviews: the beat's sweep and the reviewers' notifications.

Tasks take IDs, call one service and store no result.
"""

import logging

from celery import shared_task

from portal.integrations import notify
from portal.reviews import services
from portal.reviews.models import Campaign
from portal.reviews.notifications import message_for

logger = logging.getLogger(__name__)


@shared_task
def sweep() -> None:
    """Remind reviewers, apply due dates and start recurring reviews (the database says what is due)."""
    done = services.reviews_sweep()
    if any(done.values()):
        logger.info("Access reviews: %(reminded)s reminded, %(closed)s closed, %(started)s started", done)


@shared_task(**notify.TASK_RETRY)
def notify_reviewers_email(campaign_id: int, event: str) -> None:
    campaign = Campaign.objects.select_related("role").get(pk=campaign_id)
    message = message_for(campaign, event)
    notify.send_email(to=message.to, subject=message.subject, body=message.body)


@shared_task(**notify.TASK_RETRY)
def notify_reviewers_webhook(campaign_id: int, event: str, channel: str) -> None:
    campaign = Campaign.objects.select_related("role").get(pk=campaign_id)
    message = message_for(campaign, event)
    notify.post_webhook(channel=channel, text=f"{message.subject}\n{message.body}")
