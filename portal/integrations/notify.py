"""The one module that sends notifications: e-mail through Django's backend, Slack and Teams webhooks.

Messages carry links, never secrets. Failures become `NotificationFailed`, which the
tasks retry; nothing here ever blocks or rolls back a decision.
"""

import logging
import smtplib

import requests
from django.conf import settings
from django.core.mail import send_mail

log = logging.getLogger(__name__)


class NotificationFailed(Exception):
    """A mail server or webhook did not take the message; try again later."""


# How a Celery task that sends a notification retries while the mail server or webhook is down.
TASK_RETRY = {
    "autoretry_for": (NotificationFailed,),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 10,
}


def send_email(*, to: list[str], subject: str, body: str) -> None:
    """Send one plain-text e-mail to `to` (nothing to do for an empty list)."""
    if not to:
        return
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to, fail_silently=False)
    except (smtplib.SMTPException, OSError) as error:
        raise NotificationFailed(f"The mail server refused the message: {error.__class__.__name__}.") from error


def webhook_urls() -> dict[str, str]:
    """Return the configured incoming-webhook URLs by channel name."""
    channels = {"slack": settings.NOTIFY_SLACK_WEBHOOK_URL, "teams": settings.NOTIFY_TEAMS_WEBHOOK_URL}
    return {name: url for name, url in channels.items() if url}


def post_webhook(*, channel: str, text: str, blocks: list[dict] | None = None) -> None:
    """Post `text` to the incoming webhook of `channel` ("slack" or "teams"); Slack also takes Block Kit `blocks`."""
    url = webhook_urls().get(channel)
    if url is None:
        return
    # Slack and Teams incoming webhooks both accept a plain {"text": ...} body.
    body = {"text": text} if blocks is None else {"text": text, "blocks": blocks}
    try:
        response = requests.post(url, json=body, timeout=settings.NOTIFY_TIMEOUT_SECONDS)
    except requests.RequestException as error:
        # The URL itself is a credential: name the channel, never the URL.
        raise NotificationFailed(f"The {channel} webhook is unreachable: {error.__class__.__name__}.") from error
    if response.status_code >= 300:
        raise NotificationFailed(f"The {channel} webhook answered {response.status_code}.")
    log.info("Posted a notification to the %s webhook", channel)
