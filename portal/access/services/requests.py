"""Asking for access: a new request (approved at once when its role needs no approval), an extension,
cancelling one's own, and expiring the requests nobody reviewed in time."""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from portal.access import policy
from portal.access.models import (
    APPROVALS_LOADED,
    OPEN_REQUEST_CONSTRAINT,
    AccessRequest,
    AccessRole,
    AuditAction,
    NotificationEvent,
    state_phrase,
)
from portal.access.selectors import open_request_for, role_asked_for, stale_pending_request_ids
from portal.access.services.cleaning import REFERENCE_MAX_CHARS, clean_reference
from portal.access.services.decisions import extension_apply, queue_issue
from portal.access.services.kernel import locked, notify, record, record_many, transition
from portal.accounts.selectors import is_application
from portal.core import clock
from portal.core.errors import InvalidInput, InvalidTransition

State = AccessRequest.State

JUSTIFICATION_MIN_CHARS = 10
JUSTIFICATION_MAX_CHARS = 2000
TICKET_MAX_CHARS = REFERENCE_MAX_CHARS
MAX_START_AHEAD = timedelta(days=14)
# A start time a little in the past is "now" (the form took a while to submit), not an error.
START_TOLERANCE = timedelta(minutes=1)


def _clean_justification(text: str | None, errors: dict) -> str:
    text = (text or "").strip()
    if len("".join(text.split())) < JUSTIFICATION_MIN_CHARS:
        errors["justification"] = [f"Say why you need access, in at least {JUSTIFICATION_MIN_CHARS} characters."]
    elif len(text) > JUSTIFICATION_MAX_CHARS:
        errors["justification"] = [f"Keep the justification to {JUSTIFICATION_MAX_CHARS} characters at most."]
    return text


def _clean_duration(role: AccessRole, duration: int | None, errors: dict) -> int:
    if duration is None:
        return role.default_duration_minutes
    if isinstance(duration, bool) or not isinstance(duration, int):
        errors["duration_minutes"] = ["The duration is a whole number of minutes."]
    elif not 1 <= duration <= role.max_duration_minutes:
        errors["duration_minutes"] = [f"The duration must be between 1 and {role.max_duration_minutes} minutes."]
    return duration


def _clean_ticket(role: AccessRole, ticket: str | None, errors: dict) -> str:
    missing = "This role requires a ticket reference." if role.ticket_required else ""
    return clean_reference(
        ticket, errors, field="ticket", noun="ticket reference", pattern=role.ticket_pattern, missing=missing
    )


def _clean_start(starts_at: datetime | None, errors: dict) -> datetime | None:
    if starts_at is None:
        return None
    if starts_at.tzinfo is None:
        errors["starts_at"] = ["Give the start time with its time zone (ISO 8601, e.g. 2030-01-31T09:00:00Z)."]
        return None
    current = clock.now()
    if starts_at < current - START_TOLERANCE:
        errors["starts_at"] = ["The start time is in the past."]
    elif starts_at > current + MAX_START_AHEAD:
        errors["starts_at"] = [f"The start time can be at most {MAX_START_AHEAD.days} days ahead."]
    return starts_at


def _duplicate(existing: AccessRequest) -> InvalidTransition:
    return InvalidTransition(
        f"You already have a request for this role that is {state_phrase(existing.state)} (#{existing.pk}).",
        existing_request=existing.pk,
    )


def _broken_constraint(error: IntegrityError) -> str | None:
    """Return the name of the constraint whose violation raised `error`, as PostgreSQL reports it."""
    return getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)


def request_create(
    *,
    actor,
    role: AccessRole | str,
    justification: str,
    duration_minutes: int | None = None,
    ticket: str = "",
    starts_at: datetime | None = None,
    http_request=None,
    break_glass: bool = False,
) -> AccessRequest:
    """Ask for `role`; a role that needs no approval (or a break-glass activation) is approved at once."""
    # The role, whether a review removed the person from it, and their open request for it: one read.
    slug = role.slug if isinstance(role, AccessRole) else role
    asked = role_asked_for(actor, slug)
    role = policy.offered_role(asked if asked is not None else slug)
    because = policy.check_request(actor, role, excluded_role_ids={role.pk} if role.excluded_by_review else set())
    errors: dict[str, list[str]] = {}
    duration_minutes = _clean_duration(role, duration_minutes, errors)
    justification = _clean_justification(justification, errors)
    ticket = _clean_ticket(role, ticket, errors)
    starts_at = _clean_start(starts_at, errors)
    # Every field problem is reported at once
    if errors:
        raise InvalidInput("The request is not valid.", fields=errors)
    # One pending or active request per person and role
    if role.open_request_id is not None:
        raise _duplicate(AccessRequest(pk=role.open_request_id, state=role.open_request_state))

    application = is_application(actor)
    try:
        # One transaction, no savepoint of its own: the constraint that a racing second submission breaks
        # aborts it whole, and the race is told apart from any other failure by the constraint's name.
        with transaction.atomic():
            current = clock.now()
            request = AccessRequest.objects.create(
                role=role,
                requester=actor,
                justification=justification,
                ticket=ticket,
                duration_minutes=duration_minutes,
                requested_starts_at=starts_at,
                created_at=current,
                updated_at=current,
            )
            created = {
                "actor": actor,
                "action": AuditAction.REQUEST_CREATED,
                "request": request,
                "details": {
                    "duration_minutes": duration_minutes,
                    "ticket": ticket,
                    "starts_at": starts_at.isoformat() if starts_at else None,
                    "eligible_through": because,
                },
                "http_request": http_request,
            }
            if break_glass or role.approvals_required == 0 or (application and role.applications_auto_approve):
                # Before the events: the audit chain's lock, taken by them, is held until the commit.
                transition(request, source=State.PENDING, target=State.APPROVED, decided_at=clock.now())
                details = {"auto": True, "application": True} if application else {"auto": True}
                if break_glass:
                    # The caller (portal.breakglass) checked the policy and opens the mandatory review.
                    details["break_glass"] = True
                record_many(
                    created,
                    {"actor": None, "action": AuditAction.REQUEST_APPROVED, "request": request, "details": details},
                )
                notify(request, NotificationEvent.APPROVED)
                queue_issue(request)
            else:
                record(**created)
                notify(request, NotificationEvent.CREATED)
    except IntegrityError as error:
        if _broken_constraint(error) != OPEN_REQUEST_CONSTRAINT:
            raise
        # A second submission raced this one past the check above.
        raise _duplicate(open_request_for(user=actor, role=role)) from None
    # What showing the new request would read again: it has no approvals, nor a break-glass use unless the
    # caller (portal.breakglass) records one next.
    setattr(request, APPROVALS_LOADED, [])
    if not break_glass:
        AccessRequest.break_glass_use.related.set_cached_value(request, None)
    return request


def request_cancel(*, actor, request_id: int, http_request=None) -> AccessRequest:
    """Withdraw one's own pending request."""
    with transaction.atomic():
        request = locked(request_id)
        policy.check_cancel(actor, request)
        transition(request, source=State.PENDING, target=State.CANCELLED, decided_at=clock.now())
        record(actor=actor, action=AuditAction.REQUEST_CANCELLED, request=request, http_request=http_request)
    return request


def request_expire_pending(*, request_id: int, actor=None) -> AccessRequest:
    """Expire a pending request that nobody reviewed within its role's pending lifetime."""
    with transaction.atomic():
        request = locked(request_id)
        # Only a pending request waits for review
        if request.state != State.PENDING:
            raise InvalidTransition(f"Request #{request.pk} is {request.state}, not pending.")
        # Only once its waiting time is over
        deadline = request.created_at + timedelta(minutes=request.role.pending_lifetime_minutes)
        if clock.now() < deadline:
            raise InvalidTransition(f"Request #{request.pk} may wait for review until {deadline.isoformat()}.")
        transition(request, source=State.PENDING, target=State.EXPIRED, decided_at=clock.now())
        record(
            actor=actor,
            action=AuditAction.REQUEST_EXPIRED,
            request=request,
            details={
                "reason": "not_reviewed_in_time",
                "pending_lifetime_minutes": request.role.pending_lifetime_minutes,
            },
        )
        notify(request, NotificationEvent.EXPIRED)
    return request


def requests_expire_stale() -> int:
    """Expire every pending request past its role's pending lifetime; return how many."""
    expired = 0
    for request_id in stale_pending_request_ids():
        try:
            request_expire_pending(request_id=request_id)
        except InvalidTransition:
            # Decided, cancelled or expired by someone else in the meantime.
            continue
        expired += 1
    return expired


def request_extend(
    *, actor, request_id: int, duration_minutes: int | None, justification: str, http_request=None
) -> AccessRequest:
    """Ask to extend an active grant: a new request linked to it, under the same approval rules."""
    with transaction.atomic():
        grant = locked(request_id)
        because = policy.check_extend(actor, grant)
        role = grant.role
        room = policy.extension_room_minutes(grant)
        errors: dict[str, list[str]] = {}
        if duration_minutes is None:
            duration_minutes = min(role.default_duration_minutes, room)
        duration_minutes = _clean_duration(role, duration_minutes, errors)
        # The grant with all its extensions stays within the role's maximum
        if "duration_minutes" not in errors and duration_minutes > room:
            errors["duration_minutes"] = [
                f"At most {room} more minutes: {role.name} may be held {role.max_duration_minutes} minutes in all."
            ]
        justification = _clean_justification(justification, errors)
        # Every field problem is reported at once
        if errors:
            raise InvalidInput("The extension is not valid.", fields=errors)
        # One pending extension per grant
        pending = grant.extensions.filter(state=State.PENDING).first()
        if pending is not None:
            raise _duplicate(pending)
        current = clock.now()
        extension = AccessRequest.objects.create(
            role=role,
            requester=actor,
            justification=justification,
            ticket=grant.ticket,
            duration_minutes=duration_minutes,
            extends=grant,
            created_at=current,
            updated_at=current,
        )
        record(
            actor=actor,
            action=AuditAction.REQUEST_EXTENSION_REQUESTED,
            request=extension,
            details={"extends": grant.pk, "duration_minutes": duration_minutes, "eligible_through": because},
            http_request=http_request,
        )
        if role.approvals_required == 0:
            transition(extension, source=State.PENDING, target=State.APPROVED, decided_at=clock.now())
            record(actor=None, action=AuditAction.REQUEST_APPROVED, request=extension, details={"auto": True})
            extension_apply(extension)
        else:
            notify(extension, NotificationEvent.CREATED)
    return extension
