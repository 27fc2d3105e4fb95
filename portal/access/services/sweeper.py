"""The sweeper: what the schedule in the database says is due, safe to run in several processes at once.

It expires unreviewed requests, warns holders before the end, ends grants past their window, and hands
work that stalled (issuing, revoking, a dead worker's claim) to a worker again.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction

from portal.access.models import AccessRequest, NotificationEvent
from portal.access.services.issuing import ISSUE_REDRIVE_AFTER, issue_backoff, issuing_stuck_after
from portal.access.services.kernel import notify, queue, queue_batches, queue_now
from portal.access.services.requests import requests_expire_stale
from portal.access.services.revocation import REVOKE_BATCH, grant_expire
from portal.core import clock
from portal.core.errors import InvalidTransition
from portal.core.services import heartbeat_record

State = AccessRequest.State

# The sweeper hands a `revoking` row to a worker again after this long without progress.
REVOKE_REDRIVE_AFTER = timedelta(seconds=10)


def grants_warn_ending_soon() -> int:
    """Warn the holders of active grants that end within `NOTIFY_ENDING_SOON_MINUTES`; each grant once."""
    current = clock.now()
    horizon = current + timedelta(minutes=settings.NOTIFY_ENDING_SOON_MINUTES)
    warned = 0
    # Extensions end with their grant: the grant's holder hears once, about the grant. A grant already past
    # its end is being ended: its holder hears that instead.
    due = AccessRequest.objects.filter(
        state=State.ACTIVE, extends=None, ends_at__gt=current, ends_at__lte=horizon, ending_notice_sent_at=None
    )
    for grant in due.only("pk"):
        with transaction.atomic():
            # Claim the warning: another sweeper that got there first updates nothing here.
            claimed = AccessRequest.objects.filter(pk=grant.pk, ending_notice_sent_at=None).update(
                ending_notice_sent_at=clock.now()
            )
            if claimed:
                notify(grant, NotificationEvent.ENDING_SOON)
                warned += 1
    return warned


def grants_sweep() -> dict[str, int]:
    """Do what the schedule in the database says is due; safe to run in several processes at once."""
    heartbeat_record(name="sweeper")
    counts = {}
    # Ending first: what is past its end waits for nothing else the sweeper does.
    counts["ended"], counts["ending_queued"] = _sweep_ended()
    counts["stale_expired"] = requests_expire_stale()
    counts["warned"] = grants_warn_ending_soon()
    counts["issue_queued"] = _redrive(
        AccessRequest.objects.filter(state=State.APPROVED).exclude(requested_starts_at__gt=clock.now()),
        "issue_grant",
        lambda row: max(issue_backoff(row.issue_attempts), ISSUE_REDRIVE_AFTER),
    )
    counts["revoke_queued"] = _redrive(
        AccessRequest.objects.filter(state=State.REVOKING), "revoke_grant", lambda row: REVOKE_REDRIVE_AFTER
    )
    counts["recover_queued"] = 0
    stuck = AccessRequest.objects.filter(state=State.ISSUING, updated_at__lte=clock.now() - issuing_stuck_after())
    for request_id in stuck.values_list("pk", flat=True):
        queue_now("recover_grant", request_id)
        counts["recover_queued"] += 1
    return counts


# A few grants past their end the sweeper ends itself, each in a transaction of its own (so the audit chain's
# lock is held for one event at a time and each revocation is queued the moment it is recorded). More than
# that, and it hands them, `REVOKE_BATCH` to a task, to `expire_grants` tasks on the revocations queue
# instead, which end and revoke each batch (`batch_ending`): every worker process then works through them in
# parallel, while one sweeper ending 500 in turn took seconds before the last revocation could start. A grant
# handed over is touched, and not handed over again before EXPIRE_REDRIVE_AFTER.
SWEEP_ENDED_INLINE = 10
SWEEP_ENDED_MAX = 2000
EXPIRE_REDRIVE_AFTER = timedelta(seconds=5)


def _due():
    return AccessRequest.objects.filter(state=State.ACTIVE, extends=None, ends_at__lte=clock.now())


def _sweep_ended() -> tuple[int, int]:
    """End the active grants past their end: the few here, many through tasks; return (ended, handed over)."""
    page = list(_due().order_by("ends_at", "pk").values_list("pk", flat=True)[: SWEEP_ENDED_INLINE + 1])
    if len(page) > SWEEP_ENDED_INLINE:
        return 0, _hand_over_ended()
    ended = 0
    for request_id in page:
        try:
            grant_expire(request_id=request_id)
        except InvalidTransition:
            # Ended by another sweeper or its own task meanwhile, or extended.
            continue
        ended += 1
    return ended, 0


def _hand_over_ended() -> int:
    """Queue `expire_grants` for the active grants past their end not handed over lately; return how many."""
    current = clock.now()
    with transaction.atomic():
        due = (
            _due()
            .filter(updated_at__lte=current - EXPIRE_REDRIVE_AFTER)
            .select_for_update(skip_locked=True)
            .order_by("ends_at", "pk")
        )
        ids = list(due.values_list("pk", flat=True)[:SWEEP_ENDED_MAX])
        AccessRequest.objects.filter(pk__in=ids, state=State.ACTIVE).update(updated_at=current)
        queue_batches("expire_grants", ids, size=REVOKE_BATCH)
    return len(ids)


def _redrive(queryset, task_name: str, wait) -> int:
    """Queue `task_name` for rows untouched for their wait; touch them so the next sweep leaves them be."""
    queued = 0
    with transaction.atomic():
        rows = queryset.select_for_update(skip_locked=True).only("pk", "state", "updated_at", "issue_attempts")
        current = clock.now()
        for row in list(rows[:200]):
            if row.updated_at > current - wait(row):
                continue
            AccessRequest.objects.filter(pk=row.pk, state=row.state).update(updated_at=current)
            queue(task_name, row.pk)
            queued += 1
    return queued
