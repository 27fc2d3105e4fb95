"""Background work of the access workflow: issuing and revoking grants, the sweeper, notifications.

Tasks take IDs, call one service and store no result. A service that finds its row already
moved on raises `InvalidTransition`: another worker or sweeper got there first, which is fine.
"""

import logging

from celery import shared_task
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

from portal.access import services
from portal.access.audit import AuditChainBroken
from portal.access.audit import audit_anchor as anchor_head
from portal.access.models import AccessRequest
from portal.access.notifications import ESCAPES, message_for
from portal.chatops.blocks import webhook_blocks
from portal.core import queue
from portal.core.db import note_clean_ends, skip_recent_health_checks
from portal.core.errors import InvalidTransition, NotFound
from portal.integrations import notify, vault
from portal.logging import log_context

logger = logging.getLogger(__name__)


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender=None, signal=None, **kwargs) -> None:
    """Treat each task as Django treats a web request: keep the connection, unless broken or past CONN_MAX_AGE."""
    # A task run in-process (eager) is inside its caller's transaction: the caller owns the connection.
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    close_old_connections()
    (note_clean_ends if signal is task_postrun else skip_recent_health_checks)()


# Vault down: retry with exponential backoff and jitter. Issuing gives up after the service's own
# attempt limit (the request is then `failed`); revoking never gives up.
_VAULT_RETRY = {
    "autoretry_for": (vault.VaultUnavailable,),
    "retry_backoff": 1,
    "retry_backoff_max": 120,
    "retry_jitter": True,
}


def _request(request_id: int) -> AccessRequest:
    return AccessRequest.objects.select_related("role", "requester__profile").get(pk=request_id)


def _run(service, request_id: int) -> None:
    with log_context(access_request=request_id):
        try:
            service(request_id=request_id)
        except (InvalidTransition, NotFound) as error:
            logger.info("Nothing to do for request #%s: %s", request_id, error.detail)


@shared_task(**notify.TASK_RETRY)
def notify_email(request_id: int, event: str) -> None:
    """E-mail the people concerned by `event` on the request."""
    message = message_for(_request(request_id), event)
    notify.send_email(to=message.to, subject=message.subject, body=message.body)


@shared_task(**notify.TASK_RETRY)
def notify_webhook(request_id: int, event: str, channel: str) -> None:
    """Post `event` on the request to the Slack or Teams channel."""
    request = _request(request_id)
    message = message_for(request, event, escape=ESCAPES[channel])
    # Approvers decide from Slack with the buttons of the message, when the Slack app can call back.
    blocks = webhook_blocks(request, event) if channel == "slack" else None
    notify.post_webhook(channel=channel, text=message.body, blocks=blocks)


@shared_task
def expire_stale_requests() -> None:
    """Expire pending requests that nobody reviewed in time."""
    services.requests_expire_stale()


@shared_task
def warn_ending_grants() -> None:
    """Warn holders shortly before their grant ends."""
    services.grants_warn_ending_soon()


@shared_task(**_VAULT_RETRY, max_retries=None)
def issue_grant(request_id: int) -> None:
    """Issue the credentials of an approved request."""
    # The service counts attempts and fails the request at its limit; a retry then finds nothing to do. Other
    # approved requests waiting are issued with it, in one batch.
    _run(services.grant_issue_with_waiting, request_id)


@shared_task(**_VAULT_RETRY, max_retries=None)
def revoke_grant(request_id: int) -> None:
    """Revoke the Vault tokens of a grant that ended or was revoked."""
    _run(services.grant_revoke_finish, request_id)


@shared_task
def expire_grant(request_id: int) -> None:
    """End a grant whose window has passed, and revoke its Vault tokens in the same task."""
    with log_context(access_request=request_id):
        try:
            services.grant_expire(request_id=request_id, queue_revocation=False)
        except (InvalidTransition, NotFound) as error:
            logger.info("Nothing to do for request #%s: %s", request_id, error.detail)
            return
        try:
            services.grant_revoke_finish(request_id=request_id)
        except vault.VaultError as error:
            # The task that retries until Vault confirms takes over (the sweeper too, should this fail).
            logger.warning("Revoking ended grant #%s failed, handing it over: %s", request_id, error)
            queue.send(revoke_grant.name, request_id)
        except (InvalidTransition, NotFound) as error:
            logger.info("Nothing to do for request #%s: %s", request_id, error.detail)


@shared_task
def expire_grants(request_ids: list[int]) -> None:
    """End the grants among `request_ids` past their window, and revoke their Vault tokens, as one batch."""
    with log_context(access_requests=",".join(map(str, request_ids))):
        ended = services.grants_expire_many(request_ids=request_ids)
        services.grants_revoke_finish_many(request_ids=[grant.pk for grant in ended])


@shared_task
def revoke_grants(request_ids: list[int]) -> None:
    """Revoke the Vault tokens of the grants among `request_ids` revoked in bulk, as one batch."""
    with log_context(access_requests=",".join(map(str, request_ids))):
        services.grants_revoke_finish_many(request_ids=request_ids)


@shared_task(**_VAULT_RETRY, max_retries=None)
def recover_grant(request_id: int) -> None:
    """Take over a request that a dead worker left half issued."""
    _run(services.grant_recover, request_id)


@shared_task(**_VAULT_RETRY, max_retries=None)
def retire_tokens(request_id: int) -> None:
    """Revoke the tokens that a revealed extension replaces."""
    _run(services.grant_retire_earlier_tokens, request_id)


@shared_task
def sweep() -> None:
    """Do what is due: issue, end, expire, re-drive stuck work, and record the sweeper's heartbeat."""
    counts = services.grants_sweep()
    if any(counts.values()):
        logger.info("Sweep: %s", counts)


@shared_task
def audit_anchor() -> None:
    """Anchor the audit chain's head in Vault; leave the anchor where it is if the history no longer extends it."""
    try:
        anchor_head()
    except AuditChainBroken as error:
        logger.error("Not anchoring the audit chain: %s Run `manage.py verify_audit`.", error)
    except vault.VaultConflict:
        logger.info("Another process anchored the audit chain meanwhile")
