import logging

from celery import shared_task

from portal.core.services import heartbeat_record

logger = logging.getLogger(__name__)


@shared_task
def worker_heartbeat() -> None:
    """Record that a worker took a task off the queue."""
    heartbeat_record(name="worker")


@shared_task
def audit_anchor() -> None:
    """Anchor the audit chain's head in Vault; leave the anchor where it is if the history no longer extends it."""
    # Imported here: `portal.core` is below `portal.access`, which this one task reaches up to.
    from portal.access.audit import AuditChainBroken
    from portal.access.audit import audit_anchor as anchor_head
    from portal.integrations.vault import VaultConflict

    try:
        anchor_head()
    except AuditChainBroken as error:
        logger.error("Not anchoring the audit chain: %s Run `manage.py verify_audit`.", error)
    except VaultConflict:
        logger.info("Another process anchored the audit chain meanwhile")
