"""Break-glass: activate a role at once in an emergency, loudly; review each use afterwards; escalate late reviews.

The grant itself goes through the access workflow (`request_create` approves it at once and queues
its issuing), so break-glass adds no transition of its own to the request's state machine.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction

from portal.access import services as access_services
from portal.access.audit import audit_record
from portal.access.models import REVOCABLE_STATES, AccessRole, AuditAction
from portal.access.services.cleaning import REFERENCE_MAX_CHARS, clean_note, clean_reference
from portal.accounts.selectors import is_application, memberships_are_fresh
from portal.breakglass import notifications, selectors
from portal.breakglass.models import BreakGlassUse
from portal.core.clock import now
from portal.core.db import lock_row
from portal.core.errors import InvalidInput, InvalidTransition, NotAllowed, NotFound
from portal.core.queue import notify_on_commit

Review = BreakGlassUse.Review
# The incident reference doubles as the request's ticket, so it is held to the same length.
INCIDENT_MAX_CHARS = REFERENCE_MAX_CHARS
COMMENT_MAX_CHARS = 2000


class LimitReached(NotAllowed):
    """The per-person break-glass limit is reached."""

    code = "break_glass_limit"


def _notify(use_id: int, event: str) -> None:
    if event not in notifications.EVENTS:
        raise ValueError(f"Unknown break-glass event {event!r}.")
    notify_on_commit(
        email_task="portal.breakglass.tasks.notify_email",
        webhook_task="portal.breakglass.tasks.notify_webhook",
        args=(use_id, event),
    )


def break_glass_activate(
    *,
    actor,
    role: AccessRole | str,
    justification: str,
    incident: str,
    duration_minutes: int | None = None,
    http_request=None,
) -> BreakGlassUse:
    """Grant `role` to `actor` at once for an emergency; tell every admin and approver; open the review."""
    found = role if isinstance(role, AccessRole) else AccessRole.objects.filter(slug=role).first()
    policy = selectors.policy_for(found) if found is not None else None
    # Only a role whose catalog entry allows it
    if policy is None:
        raise NotFound(f"There is no role {getattr(role, 'slug', role)!r} that allows break-glass.")
    role = policy.role
    # Break-glass is a person's call in an emergency, never a script's
    if is_application(actor):
        raise NotAllowed("Applications cannot break the glass.")
    # Eligibility rests on memberships read recently
    if not memberships_are_fresh(actor):
        raise NotAllowed("Your group memberships are too old to break the glass; sign in again to refresh them.")
    errors: dict[str, list[str]] = {}
    incident = clean_reference(
        incident,
        errors,
        field="incident",
        noun="incident reference",
        pattern=policy.incident_pattern,
        missing="Give the incident reference.",
    )
    longest = selectors.window_minutes(policy)
    if duration_minutes is None:
        duration_minutes = longest
    elif isinstance(duration_minutes, bool) or not isinstance(duration_minutes, int):
        errors["duration_minutes"] = ["The duration is a whole number of minutes."]
    # Break-glass windows are short: at most the policy's maximum
    elif not 1 <= duration_minutes <= longest:
        errors["duration_minutes"] = [f"A break-glass window is between 1 and {longest} minutes."]
    if errors:
        raise InvalidInput("The break-glass activation is not valid.", fields=errors)

    with transaction.atomic():
        # One activation of a person at a time, so that two at once cannot both pass the limit.
        get_user_model().objects.select_for_update().filter(pk=actor.pk).first()
        used = selectors.uses_in_window(user=actor, policy=policy)
        # The per-person limit
        if used >= policy.uses_allowed:
            raise LimitReached(
                f"You broke the glass of {role.name} {used} times in the last {policy.window_days} days; "
                f"the limit is {policy.uses_allowed}. Ask an approver instead.",
                uses=used,
                limit=policy.uses_allowed,
            )
        try:
            # The incident reference doubles as the request's ticket, so a role that requires one is satisfied.
            request = access_services.request_create(
                actor=actor,
                role=role,
                justification=justification,
                duration_minutes=duration_minutes,
                ticket=incident,
                http_request=http_request,
                break_glass=True,
            )
        except InvalidInput as error:
            fields = {("incident" if name == "ticket" else name): texts for name, texts in error.fields.items()}
            raise InvalidInput(error.detail, fields=fields) from error
        current = now()
        use = BreakGlassUse.objects.create(
            request=request,
            requester=actor,
            role=role,
            incident=incident,
            activated_at=current,
            review_due_at=current + timedelta(hours=policy.review_due_hours),
        )
        audit_record(
            actor=actor,
            action=AuditAction.BREAK_GLASS_ACTIVATED,
            request=request,
            details={
                "incident": incident,
                "duration_minutes": duration_minutes,
                "review_due_at": use.review_due_at.isoformat(),
                "uses_in_window": used + 1,
                "limit": policy.uses_allowed,
            },
            http_request=http_request,
        )
        _notify(use.pk, "activated")
    return use


def _locked(use_id: int) -> BreakGlassUse:
    uses = BreakGlassUse.objects.select_related("request", "role", "requester__profile")
    return lock_row(uses, use_id, missing=f"There is no break-glass use #{use_id}.")


def _guard_review(use: BreakGlassUse, actor) -> None:
    # Nobody reviews their own emergency
    if use.requester_id == actor.pk:
        raise NotAllowed("You cannot review your own break-glass use.")
    # Applications never review
    if is_application(actor):
        raise NotAllowed("Applications cannot review break-glass uses.")
    # The reviewer's groups are re-checked now, so they must be fresh
    if not memberships_are_fresh(actor):
        raise NotAllowed("Your group memberships are too old to review; sign in again to refresh them.")
    # Approvers of the role review; portal admins too, since overdue reviews come to them
    if not selectors.may_review(actor, use):
        raise NotAllowed(f"Only approvers of {use.role.name} and portal admins review its break-glass uses.")
    # Each use is reviewed once
    if use.review_state != Review.PENDING:
        raise InvalidTransition(f"Break-glass use #{use.pk} was already reviewed ({use.review_state}).")


def _decide(use: BreakGlassUse, *, actor, state: str, comment: str) -> None:
    decided = BreakGlassUse.objects.filter(pk=use.pk, review_state=Review.PENDING).update(
        review_state=state, reviewer=actor, review_comment=comment, decided_at=now()
    )
    if not decided:
        raise InvalidTransition(f"Break-glass use #{use.pk} was reviewed by someone else first.")
    use.refresh_from_db()


def break_glass_confirm(*, actor, use_id: int, comment: str = "", http_request=None) -> BreakGlassUse:
    """Record that the break-glass use was justified."""
    comment = clean_note(comment, field="comment", max_chars=COMMENT_MAX_CHARS)
    with transaction.atomic():
        use = _locked(use_id)
        _guard_review(use, actor)
        _decide(use, actor=actor, state=Review.CONFIRMED, comment=comment)
        audit_record(
            actor=actor,
            action=AuditAction.BREAK_GLASS_CONFIRMED,
            request=use.request,
            details={"comment": comment} if comment else {},
            http_request=http_request,
        )
    return use


def break_glass_flag(*, actor, use_id: int, comment: str, http_request=None) -> BreakGlassUse:
    """Flag the break-glass use as misuse: revoke its grant if it is still open, and tell the admins."""
    comment = clean_note(
        comment,
        field="comment",
        max_chars=COMMENT_MAX_CHARS,
        missing=("Say what was wrong.", "A comment is required to flag misuse."),
    )
    with transaction.atomic():
        use = _locked(use_id)
        _guard_review(use, actor)
        _decide(use, actor=actor, state=Review.MISUSE, comment=comment)
        revoked = False
        if use.request.state in REVOCABLE_STATES:
            try:
                with transaction.atomic():
                    access_services.grant_revoke(
                        actor=actor,
                        request_id=use.request_id,
                        reason=f"Break-glass use flagged as misuse: {comment}"[:500],
                        http_request=http_request,
                    )
                revoked = True
            except InvalidTransition:
                # It ended meanwhile: nothing left to revoke.
                pass
        audit_record(
            actor=actor,
            action=AuditAction.BREAK_GLASS_FLAGGED,
            request=use.request,
            details={"comment": comment, "grant_revoked": revoked},
            http_request=http_request,
        )
        _notify(use.pk, "flagged")
    return use


def break_glass_escalate(*, use_id: int) -> BreakGlassUse:
    """Tell the portal admins that nobody reviewed the break-glass use in time (once)."""
    with transaction.atomic():
        use = _locked(use_id)
        # Only an unreviewed use past its due time
        if use.review_state != Review.PENDING or use.review_due_at > now():
            raise InvalidTransition(f"Break-glass use #{use.pk} is not overdue for review.")
        escalated = BreakGlassUse.objects.filter(pk=use.pk, escalated_at__isnull=True).update(escalated_at=now())
        if not escalated:
            raise InvalidTransition(f"Break-glass use #{use.pk} was already escalated.")
        use.refresh_from_db()
        audit_record(
            actor=None,
            action=AuditAction.BREAK_GLASS_ESCALATED,
            request=use.request,
            details={"review_due_at": use.review_due_at.isoformat()},
        )
        _notify(use.pk, "escalated")
    return use


def break_glass_escalate_due() -> int:
    """Escalate every overdue, unreviewed use; safe to run in several processes at once."""
    escalated = 0
    for use_id in selectors.uses_due_for_escalation().values_list("pk", flat=True)[:200]:
        try:
            break_glass_escalate(use_id=use_id)
        except InvalidTransition:
            # Reviewed or escalated by another process meanwhile.
            continue
        escalated += 1
    return escalated
