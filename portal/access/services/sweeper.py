"""The sweeper: what the schedule in the database says is due, safe to run in several processes at once.

It expires unreviewed requests, warns holders before the end, ends grants past their window, and hands
work that stalled (issuing, revoking, a dead worker's claim) to a worker again.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction

from portal.access.models import AccessRequest, NotificationEvent
from portal.access.services.issuing import ISSUE_REDRIVE_AFTER, issue_backoff, issuing_stuck_after
from portal.access.services.kernel import notify, queue, queue_now
from portal.access.services.requests import requests_expire_stale
from portal.access.services.revocation import grant_expire
from portal.core import clock
from portal.core.errors import InvalidTransition
from portal.core.services import heartbeat_record

State = AccessRequest.State

# The sweeper hands a `revoking` row to a worker again after this long without progress.
REVOKE_REDRIVE_AFTER = timedelta(seconds=10)


def grants_warn_ending_soon() -> int:
    """Warn the holders of active grants that end within `NOTIFY_ENDING_SOON_MINUTES`; each grant once."""
    horizon = clock.now() + timedelta(minutes=settings.NOTIFY_ENDING_SOON_MINUTES)
    warned = 0
    # Extensions end with their grant: the grant's holder hears once, about the grant.
    due = AccessRequest.objects.filter(
        state=State.ACTIVE, extends=None, ends_at__lte=horizon, ending_notice_sent_at=None
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
    counts = {
        "stale_expired": requests_expire_stale(),
        "warned": grants_warn_ending_soon(),
        "ended": _sweep_ended(),
    }
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


# The sweeper ends grants in small transactions, so that workers start revoking the first ones while it
# ends the rest (one transaction of 200 held every revocation back until all 200 were recorded).
SWEEP_ENDED_BATCH = 25
SWEEP_ENDED_MAX_BATCHES = 40


def _sweep_ended() -> int:
    """Move every active grant past its end to `revoking`; rows another sweeper holds are left to it."""
    ended = 0
    passed = set()
    for _ in range(SWEEP_ENDED_MAX_BATCHES):
        with transaction.atomic():
            due = AccessRequest.objects.select_for_update(skip_locked=True).filter(
                state=State.ACTIVE, extends=None, ends_at__lte=clock.now()
            )
            batch = list(due.exclude(pk__in=passed).values_list("pk", flat=True)[:SWEEP_ENDED_BATCH])
            for request_id in batch:
                try:
                    grant_expire(request_id=request_id)
                except InvalidTransition:
                    # Moved on meanwhile (or extended): not to be picked again in this sweep.
                    passed.add(request_id)
                    continue
                ended += 1
        if len(batch) < SWEEP_ENDED_BATCH:
            break
    return ended


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
