"""Access reviews: start a campaign, decide each person, close at the due date, run recurring reviews.

Every change is a conditional update that writes its audit event in the same transaction; a
second click on the same decision finds it made and does nothing.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from portal.access.audit import audit_record
from portal.access.models import REASON_MAX_CHARS, AccessRequest, AccessRole
from portal.access.policy import check_fresh_memberships
from portal.access.services import grant_revoke
from portal.access.services.cleaning import clean_note
from portal.accounts.selectors import is_application, is_portal_admin
from portal.core.clock import now
from portal.core.db import lock_row
from portal.core.errors import DomainError, InvalidInput, InvalidTransition, NotAllowed, NotFound
from portal.core.queue import notify_on_commit
from portal.reviews import selectors
from portal.reviews.models import (
    ACTION_CAMPAIGN_CLOSED,
    ACTION_CAMPAIGN_STARTED,
    ACTION_EXCLUSION_LIFTED,
    ACTION_KEPT,
    ACTION_REMOVED,
    ACTION_SCHEDULE_SET,
    ACTION_SCHEDULE_SKIPPED,
    EVENT_DUE_SOON,
    EVENT_STARTED,
    HOLDING_STATES,
    Campaign,
    ReviewItem,
    ReviewSchedule,
    RoleExclusion,
    WhenOverdue,
)

logger = logging.getLogger(__name__)

Decision = ReviewItem.Decision
MIN_DUE = timedelta(hours=1)
MAX_DUE = timedelta(days=365)
MAX_EVERY_DAYS = 3650


def _notify(campaign: Campaign, event: str) -> None:
    notify_on_commit(
        email_task="portal.reviews.tasks.notify_reviewers_email",
        webhook_task="portal.reviews.tasks.notify_reviewers_webhook",
        args=(campaign.pk, event),
    )


def _clean_start(*, due_at: datetime | None, when_overdue: str, repeat_every_days: int | None, at: datetime) -> dict:
    errors: dict[str, list[str]] = {}
    if due_at is None:
        errors["due_at"] = ["Give a due date."]
    elif due_at < at + MIN_DUE:
        errors["due_at"] = ["The due date must be at least an hour ahead."]
    elif due_at > at + MAX_DUE:
        errors["due_at"] = ["The due date must be within a year."]
    if when_overdue not in WhenOverdue.values:
        errors["when_overdue"] = ["Choose keep or remove."]
    if repeat_every_days is not None and not 1 <= repeat_every_days <= MAX_EVERY_DAYS:
        errors["repeat_every_days"] = [f"Between 1 and {MAX_EVERY_DAYS} days."]
    return errors


def campaign_start(
    *,
    actor,
    role: AccessRole | str | None,
    due_at: datetime | None,
    when_overdue: str,
    repeat_every_days: int | None = None,
    http_request=None,
) -> Campaign:
    """Start a review of `role` (None: every offered role) due at `due_at`; tell the reviewers."""
    # Only portal admins start reviews
    if not is_portal_admin(actor):
        raise NotAllowed("Only portal admins can start an access review.")
    if isinstance(role, str):
        found = AccessRole.objects.filter(slug=role).first()
        # A review names a role of the catalog
        if found is None:
            raise InvalidInput(f"There is no role {role!r}.", fields={"role": [f"There is no role {role!r}."]})
        role = found
    current = now()
    errors = _clean_start(due_at=due_at, when_overdue=when_overdue, repeat_every_days=repeat_every_days, at=current)
    # A schedule repeats the review of one role
    if repeat_every_days is not None and role is None:
        errors.setdefault("repeat_every_days", []).append("Only the review of one role can repeat.")
    # Every field problem is reported at once
    if errors:
        raise InvalidInput("The review is not valid.", fields=errors)
    # Microsoft Graph is read before the transaction: no row waits on the network.
    roster = _people_for(role)
    with transaction.atomic():
        campaign = _campaign_open(
            role=role,
            roster=roster,
            due_at=due_at,
            when_overdue=when_overdue,
            started_by=actor,
            owner=actor,
            http_request=http_request,
        )
        if repeat_every_days is not None:
            _schedule_set(
                actor=actor,
                role=role,
                every_days=repeat_every_days,
                due_in_days=max(1, (due_at - current).days),
                when_overdue=when_overdue,
                next_run_at=current + timedelta(days=repeat_every_days),
                http_request=http_request,
            )
    return campaign


@dataclass(frozen=True)
class _Roster:
    """The roles under review, the people eligible for each (by role ID), and where the list came from."""

    roles: list[AccessRole]
    people: dict[int, list[selectors.Person]]
    sources: list[str]


def _people_for(role: AccessRole | None) -> _Roster:
    roles = [role] if role is not None else list(AccessRole.objects.filter(enabled=True, vault_role_missing=False))
    token = selectors.graph_token_if_configured()
    people = {r.pk: selectors.eligible_people(r, graph_token=token) for r in roles}
    return _Roster(roles=roles, people=people, sources=["sign-ins", "Microsoft Graph"] if token else ["sign-ins"])


def _campaign_open(
    *, role, roster: _Roster, due_at, when_overdue, started_by, owner, schedule=None, http_request=None
) -> Campaign:
    """Create the campaign with one item per eligible person and role (call inside a transaction)."""
    roles, people, sources = roster.roles, roster.people, roster.sources
    try:
        with transaction.atomic():
            campaign = Campaign.objects.create(
                role=role,
                due_at=due_at,
                when_overdue=when_overdue,
                started_by=started_by,
                owner=owner,
                schedule=schedule,
                started_at=now(),
                sources=sources,
            )
    except IntegrityError:
        existing = Campaign.objects.filter(role=role, state=Campaign.State.OPEN).first()
        raise InvalidTransition(
            f"A review of {role.name if role else 'all roles'} is already open (#{existing.pk if existing else '?'}).",
            existing_campaign=existing.pk if existing else None,
        ) from None
    ReviewItem.objects.bulk_create(
        ReviewItem(
            campaign=campaign,
            role=r,
            user_id=person.user_id,
            tid=person.tid,
            oid=person.oid,
            upn=person.upn,
            display_name=person.display_name,
            eligible_through=person.eligible_through,
            seen_at_sign_in=person.seen_at_sign_in,
            seen_in_graph=person.seen_in_graph,
        )
        for r in roles
        for person in people[r.pk]
    )
    audit_record(
        actor=started_by,
        action=ACTION_CAMPAIGN_STARTED,
        role=role,
        details={
            "campaign": campaign.pk,
            "roles": [r.slug for r in roles],
            "people": sum(len(found) for found in people.values()),
            "due_at": due_at.isoformat(),
            "when_overdue": when_overdue,
            "sources": campaign.sources,
            "schedule": schedule.pk if schedule else None,
        },
        http_request=http_request,
    )
    _notify(campaign, EVENT_STARTED)
    return campaign


def _schedule_set(*, actor, role, every_days, due_in_days, when_overdue, next_run_at, http_request=None) -> None:
    ReviewSchedule.objects.update_or_create(
        role=role,
        defaults={
            "every_days": every_days,
            "due_in_days": due_in_days,
            "when_overdue": when_overdue,
            "next_run_at": next_run_at,
            "enabled": True,
            "owner": actor,
            "updated_at": now(),
        },
    )
    audit_record(
        actor=actor,
        action=ACTION_SCHEDULE_SET,
        role=role,
        details={"every_days": every_days, "due_in_days": due_in_days, "when_overdue": when_overdue},
        http_request=http_request,
    )


def _locked_item(item_id: int) -> ReviewItem:
    items = ReviewItem.objects.select_related("campaign", "role", "user__profile")
    return lock_row(items, item_id, missing=f"There is no review item #{item_id}.")


def item_decide(*, actor, item_id: int, decision: str, reason: str = "", http_request=None) -> ReviewItem:
    """Keep the person in the role, or remove them (with a reason): excluded at once, open grants revoked."""
    with transaction.atomic():
        item = _locked_item(item_id)
        # Only a reviewer of the role may see and decide it; others learn nothing
        if not selectors.is_reviewer(item.role, actor) and not is_portal_admin(actor):
            raise NotFound(f"There is no review item #{item_id}.")
        # Applications never decide: a review is a person's judgement
        if is_application(actor):
            raise NotAllowed("Applications cannot decide access reviews.")
        # Nobody reviews their own access
        if selectors.is_subject(item, actor):
            raise NotAllowed("You cannot review your own access; another approver decides it.")
        # The reviewers are the role's approvers (the portal admins for a role without approvers)
        if not selectors.is_reviewer(item.role, actor):
            raise NotAllowed(f"You are not an approver of {item.role.name}.")
        # The reviewer's groups are re-checked now, so they must be fresh
        check_fresh_memberships(actor)
        # A decision is keep or remove
        if decision not in (Decision.KEEP, Decision.REMOVE):
            raise InvalidInput("Decide keep or remove.", fields={"decision": ["Choose keep or remove."]})
        # The same decision again (a second click) changes nothing
        if item.decision == decision:
            return item
        # Each person is decided once
        if item.decision != Decision.PENDING:
            raise InvalidTransition(f"{item.label} was already decided: {item.decision}.")
        # A closed campaign takes no more decisions
        if item.campaign.state != Campaign.State.OPEN:
            raise InvalidTransition(f"Review #{item.campaign_id} is closed.")
        # A removal says why, briefly
        missing = ("Say why this person should lose the role.", "A reason is required.")
        reason = clean_note(
            reason, field="reason", max_chars=REASON_MAX_CHARS, missing=missing if decision == Decision.REMOVE else None
        )
        _apply(item, decision=decision, reason=reason, actor=actor, revoker=actor, http_request=http_request)
        _close_if_done(item.campaign)
    return item


def _apply(item: ReviewItem, *, decision: str, reason: str, actor, revoker, overdue=False, http_request=None) -> None:
    """Record the decision with a conditional update; a removal excludes the person and revokes their grants."""
    decided_at = now()
    moved = ReviewItem.objects.filter(pk=item.pk, decision=Decision.PENDING).update(
        decision=decision, reason=reason, decided_by=actor, decided_at=decided_at, decided_when_overdue=overdue
    )
    if not moved:
        raise InvalidTransition(f"{item.label} was decided by someone else in the meantime.")
    item.decision, item.reason, item.decided_by, item.decided_at = decision, reason, actor, decided_at
    item.decided_when_overdue = overdue
    details = {"campaign": item.campaign_id, "item": item.pk, "person": item.label, "oid": item.oid}
    if decision == Decision.KEEP:
        audit_record(actor=actor, action=ACTION_KEPT, role=item.role, details=details, http_request=http_request)
        return
    RoleExclusion.objects.get_or_create(role=item.role, tid=item.tid, oid=item.oid, defaults={"item": item})
    revoked = _revoke_open_grants(item, revoker=revoker, reason=reason)
    ReviewItem.objects.filter(pk=item.pk).update(revoked_requests=revoked)
    item.revoked_requests = revoked
    audit_record(
        actor=actor,
        action=ACTION_REMOVED,
        role=item.role,
        details={
            **details,
            "reason": reason,
            "overdue": overdue,
            "memberships": item.eligible_through,
            "revoked_requests": revoked,
        },
        http_request=http_request,
    )


def _revoke_open_grants(item: ReviewItem, *, revoker, reason: str) -> list[int]:
    """Revoke every grant the person still holds for the role, through the workflow's own revoke."""
    if item.user_id is None or revoker is None:
        return []
    held = AccessRequest.objects.filter(
        requester_id=item.user_id, role=item.role, extends=None, state__in=HOLDING_STATES
    ).values_list("pk", flat=True)
    revoked = []
    for request_id in held:
        try:
            grant_revoke(
                actor=revoker,
                request_id=request_id,
                reason=f"Access review #{item.campaign_id}: {reason}"[:REASON_MAX_CHARS],
            )
        except InvalidTransition:
            # Ended or revoked by someone else in the meantime.
            continue
        revoked.append(request_id)
    return revoked


def _close_if_done(campaign: Campaign, *, overdue: bool = False) -> bool:
    """Close the campaign once nobody is left to decide (conditional: closed once)."""
    if campaign.items.filter(decision=Decision.PENDING).exists():
        return False
    closed_at = now()
    if not Campaign.objects.filter(pk=campaign.pk, state=Campaign.State.OPEN).update(
        state=Campaign.State.CLOSED, closed_at=closed_at
    ):
        return False
    campaign.state, campaign.closed_at = Campaign.State.CLOSED, closed_at
    progress = selectors.progress_of(campaign)
    audit_record(
        actor=None,
        action=ACTION_CAMPAIGN_CLOSED,
        role=campaign.role,
        details={"campaign": campaign.pk, "kept": progress.kept, "removed": progress.removed, "at_due_date": overdue},
    )
    return True


def exclusion_lift(*, actor, exclusion_id: int, http_request=None) -> None:
    """Let a person removed by a review ask for the role again (portal admins only)."""
    # Only portal admins undo a review's removal
    if not is_portal_admin(actor):
        raise NotAllowed("Only portal admins can lift a removal.")
    with transaction.atomic():
        exclusions = RoleExclusion.objects.select_related("role", "item")
        found = lock_row(exclusions, exclusion_id, missing=f"There is no removal #{exclusion_id}.")
        audit_record(
            actor=actor,
            action=ACTION_EXCLUSION_LIFTED,
            role=found.role,
            details={"person": found.item.label, "oid": found.oid, "item": found.item_id},
            http_request=http_request,
        )
        found.delete()


# ----- the beat: reminders, due dates, recurring reviews -----


def campaigns_remind(*, at: datetime | None = None) -> int:
    """Remind the reviewers of each open campaign due within REVIEWS_REMINDER_HOURS, once."""
    current = at or now()
    horizon = current + timedelta(hours=settings.REVIEWS_REMINDER_HOURS)
    reminded = 0
    due_soon = Campaign.objects.filter(
        state=Campaign.State.OPEN, reminder_sent_at__isnull=True, due_at__lte=horizon, due_at__gt=current
    )
    for campaign in due_soon:
        with transaction.atomic():
            # Another beat or worker may have reminded them first.
            if not Campaign.objects.filter(pk=campaign.pk, reminder_sent_at__isnull=True).update(
                reminder_sent_at=current
            ):
                continue
            _notify(campaign, EVENT_DUE_SOON)
            reminded += 1
    return reminded


def campaign_close_overdue(*, campaign_id: int, at: datetime | None = None) -> int:
    """Decide every undecided person of a campaign past its due date as its setting says; close it."""
    current = at or now()
    campaign = Campaign.objects.select_related("role", "owner").filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound(f"There is no review #{campaign_id}.")
    # Only an open campaign past its due date is closed here
    if campaign.state != Campaign.State.OPEN or campaign.due_at > current:
        raise InvalidTransition(f"Review #{campaign_id} is not open past its due date.")
    decided = 0
    reason = (
        "Not reviewed by the due date: removed, as the review said."
        if campaign.when_overdue == WhenOverdue.REMOVE
        else "Not reviewed by the due date: kept, as the review said."
    )
    for item_id in campaign.items.filter(decision=Decision.PENDING).values_list("pk", flat=True):
        with transaction.atomic():
            item = _locked_item(item_id)
            if item.decision != Decision.PENDING:
                continue
            revoker = campaign.owner if is_portal_admin(campaign.owner) else None
            if revoker is None and campaign.when_overdue == WhenOverdue.REMOVE:
                logger.warning("Review #%s: its owner is no longer a portal admin; grants end at their window", item_id)
            _apply(item, decision=campaign.when_overdue, reason=reason, actor=None, revoker=revoker, overdue=True)
            decided += 1
    with transaction.atomic():
        _close_if_done(campaign, overdue=True)
    return decided


def schedules_run(*, at: datetime | None = None) -> int:
    """Start the reviews whose schedule is due; claim each schedule first so that it starts once."""
    current = at or now()
    started = 0
    for schedule in ReviewSchedule.objects.filter(enabled=True, next_run_at__lte=current).select_related(
        "role", "owner"
    ):
        try:
            roster = _people_for(schedule.role)
        except DomainError as error:
            # Graph is down: nothing changed; the next sweep tries again.
            logger.warning("The recurring review of %s waits: %s", schedule.role.slug, error.detail)
            continue
        with transaction.atomic():
            claimed = ReviewSchedule.objects.filter(pk=schedule.pk, next_run_at=schedule.next_run_at).update(
                next_run_at=current + timedelta(days=schedule.every_days), updated_at=current
            )
            if not claimed:
                continue  # another beat got there first
            try:
                with transaction.atomic():
                    _campaign_open(
                        role=schedule.role,
                        roster=roster,
                        due_at=current + timedelta(days=schedule.due_in_days),
                        when_overdue=schedule.when_overdue,
                        started_by=None,
                        owner=schedule.owner,
                        schedule=schedule,
                    )
                started += 1
            except DomainError as error:
                _schedule_skip(schedule, error)
    return started


def _schedule_skip(schedule: ReviewSchedule, error: DomainError) -> None:
    """Record a period whose review could not start (the last one is still open); the next period tries again."""
    audit_record(actor=None, action=ACTION_SCHEDULE_SKIPPED, role=schedule.role, details={"why": error.detail})


def reviews_sweep(*, at: datetime | None = None) -> dict[str, int]:
    """Do what is due: remind reviewers, close overdue campaigns, start recurring ones."""
    current = at or now()
    closed = 0
    for campaign_id in Campaign.objects.filter(state=Campaign.State.OPEN, due_at__lte=current).values_list(
        "pk", flat=True
    ):
        try:
            campaign_close_overdue(campaign_id=campaign_id, at=current)
            closed += 1
        except InvalidTransition:
            continue
    return {
        "reminded": campaigns_remind(at=current),
        "closed": closed,
        "started": schedules_run(at=current),
    }
