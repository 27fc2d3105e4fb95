"""Background work of the access workflow: notifications and the expiry of stale pending requests."""

from celery import shared_task

from portal.access.models import AccessRequest
from portal.access.notifications import message_for
from portal.access.services import grants_warn_ending_soon, requests_expire_stale
from portal.integrations import notify

_RETRY = {
    "autoretry_for": (notify.NotificationFailed,),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 10,
}


def _request(request_id: int) -> AccessRequest:
    return AccessRequest.objects.select_related("role", "requester__profile").get(pk=request_id)


@shared_task(**_RETRY)
def notify_email(request_id: int, event: str) -> None:
    """E-mail the people concerned by `event` on the request."""
    message = message_for(_request(request_id), event)
    notify.send_email(to=message.to, subject=message.subject, body=message.body)


@shared_task(**_RETRY)
def notify_webhook(request_id: int, event: str, channel: str) -> None:
    """Post `event` on the request to the Slack or Teams channel."""
    message = message_for(_request(request_id), event)
    notify.post_webhook(channel=channel, text=message.body)


@shared_task
def expire_stale_requests() -> None:
    """Expire pending requests that nobody reviewed in time."""
    requests_expire_stale()


@shared_task
def warn_ending_grants() -> None:
    """Warn holders shortly before their grant ends."""
    grants_warn_ending_soon()
