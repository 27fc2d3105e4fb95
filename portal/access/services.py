"""The request's state machine: one function per transition, guards first, audit in the same transaction.

pending ─approve (enough approvals)─> approved ─issue─> active ─end─> expired
   │ └─deny─> denied                                    └─revoke─> revoked
   │ └─cancel (requester)─> cancelled
   └─not reviewed in time─> expired

Issuing and revoking (approved → issuing → active, active → revoking → expired/revoked)
belong to the Vault side; this module stops at `approved`.
"""

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from portal.access import notifications
from portal.access.audit import audit_record
from portal.access.models import AccessRequest, AccessRole, Approval
from portal.access.selectors import is_role_approver, open_request_for, role_eligibility, stale_pending_request_ids
from portal.accounts.selectors import memberships_are_fresh
from portal.core.clock import now
from portal.core.errors import InvalidInput, InvalidTransition, NotAllowed, NotFound

State = AccessRequest.State

JUSTIFICATION_MIN_CHARS = 10
JUSTIFICATION_MAX_CHARS = 2000
TICKET_MAX_CHARS = 100
MAX_START_AHEAD = timedelta(days=14)
# A start time a little in the past is "now" (the form took a while to submit), not an error.
START_TOLERANCE = timedelta(minutes=1)


# ----- guards and helpers -----


def _require_fresh_memberships(user) -> None:
    if not memberships_are_fresh(user):
        minutes = settings.GROUPS_MAX_AGE_SECONDS // 60
        raise NotAllowed(
            f"Your group memberships were read more than {minutes} minutes ago; sign in again to refresh them."
        )


def _offered_role(role: AccessRole | str) -> AccessRole:
    if isinstance(role, AccessRole):
        found = role
    else:
        found = AccessRole.objects.filter(slug=role).first()
    if found is None or not found.offered:
        raise NotFound(f"There is no role {getattr(role, 'slug', role)!r} to request.")
    return found


def _locked(request_id: int) -> AccessRequest:
    """Return the request, locked for the rest of the transaction."""
    request = (
        AccessRequest.objects.select_for_update(of=("self",)).select_related("role", "requester").filter(pk=request_id)
    )
    found = request.first()
    if found is None:
        raise NotFound(f"There is no request #{request_id}.")
    return found


def _transition(request: AccessRequest, *, source: str, target: str, **fields) -> AccessRequest:
    """Move `request` from `source` to `target` with a conditional update; another actor may have been first."""
    fields = {"state": target, "updated_at": now(), **fields}
    if AccessRequest.objects.filter(pk=request.pk, state=source).update(**fields) == 0:
        raise InvalidTransition(f"Request #{request.pk} is no longer {source}.")
    for name, value in fields.items():
        setattr(request, name, value)
    return request


def _notify(request: AccessRequest, event: str) -> None:
    request_id = request.pk
    transaction.on_commit(lambda: notifications.enqueue(request_id=request_id, event=event))


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
    ticket = (ticket or "").strip()
    if not ticket:
        if role.ticket_required:
            errors["ticket"] = ["This role requires a ticket reference."]
        return ""
    if len(ticket) > TICKET_MAX_CHARS:
        errors["ticket"] = [f"A ticket reference has at most {TICKET_MAX_CHARS} characters."]
    elif role.ticket_pattern and not re.fullmatch(role.ticket_pattern, ticket):
        errors["ticket"] = [f"The ticket reference must match {role.ticket_pattern}."]
    return ticket


def _clean_start(starts_at: datetime | None, errors: dict) -> datetime | None:
    if starts_at is None:
        return None
    if starts_at.tzinfo is None:
        errors["starts_at"] = ["Give the start time with its time zone (ISO 8601, e.g. 2030-01-31T09:00:00Z)."]
        return None
    current = now()
    if starts_at < current - START_TOLERANCE:
        errors["starts_at"] = ["The start time is in the past."]
    elif starts_at > current + MAX_START_AHEAD:
        errors["starts_at"] = [f"The start time can be at most {MAX_START_AHEAD.days} days ahead."]
    return starts_at


def _duplicate(existing: AccessRequest) -> InvalidTransition:
    return InvalidTransition(
        f"You already have a {existing.state} request for this role (#{existing.pk}).",
        existing_request=existing.pk,
    )


# ----- transitions -----


def request_create(
    *,
    actor,
    role: AccessRole | str,
    justification: str,
    duration_minutes: int | None = None,
    ticket: str = "",
    starts_at: datetime | None = None,
    http_request=None,
) -> AccessRequest:
    """Ask for `role`; a role that needs no approval is approved at once."""
    role = _offered_role(role)
    # Eligibility rests on memberships read recently
    _require_fresh_memberships(actor)
    # Only members of an eligible group (or app role) may ask
    because = role_eligibility(role, actor)
    if not because:
        raise NotAllowed(f"You are not in a group that may request {role.name}.")
    errors: dict[str, list[str]] = {}
    duration_minutes = _clean_duration(role, duration_minutes, errors)
    justification = _clean_justification(justification, errors)
    ticket = _clean_ticket(role, ticket, errors)
    starts_at = _clean_start(starts_at, errors)
    # Every field problem is reported at once
    if errors:
        raise InvalidInput("The request is not valid.", fields=errors)
    # One pending or active request per person and role
    existing = open_request_for(user=actor, role=role)
    if existing is not None:
        raise _duplicate(existing)

    with transaction.atomic():
        current = now()
        try:
            with transaction.atomic():
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
        except IntegrityError:
            # A second submission raced this one past the check above.
            raise _duplicate(open_request_for(user=actor, role=role)) from None
        audit_record(
            actor=actor,
            action="request.created",
            request=request,
            details={
                "duration_minutes": duration_minutes,
                "ticket": ticket,
                "starts_at": starts_at.isoformat() if starts_at else None,
                "eligible_through": because,
            },
            http_request=http_request,
        )
        if role.approvals_required == 0:
            _transition(request, source=State.PENDING, target=State.APPROVED, decided_at=now())
            audit_record(actor=None, action="request.approved", request=request, details={"auto": True})
            _notify(request, "approved")
        else:
            _notify(request, "created")
    return request


def request_approve(
    *, actor, request_id: int, comment: str = "", duration_minutes: int | None = None, http_request=None
) -> AccessRequest:
    """Record the approval of `actor`; with enough distinct approvals the request is approved."""
    requester_left = False
    with transaction.atomic():
        request = _locked(request_id)
        # Only a pending request can be decided
        if request.state != State.PENDING:
            raise InvalidTransition(f"Request #{request.pk} is {request.state}, not pending.")
        # Nobody decides their own request
        if request.requester_id == actor.pk:
            raise NotAllowed("You cannot approve your own request.")
        # The approver's groups are re-checked now, so they must be fresh
        _require_fresh_memberships(actor)
        # Only members of an approver group of the role may decide
        if not is_role_approver(request.role, actor):
            raise NotAllowed(f"You are not an approver of {request.role.name}.")
        # Each approver counts once
        if request.approvals.filter(approver=actor).exists():
            raise InvalidTransition("You have already decided on this request.")
        # An approver may shorten the duration, never lengthen it
        if duration_minutes is not None and not 1 <= duration_minutes <= request.duration_minutes:
            raise InvalidInput(
                "An approver may shorten the duration, not lengthen it.",
                fields={"duration_minutes": [f"Between 1 and {request.duration_minutes} minutes."]},
            )
        # A requester who has left the eligible groups gets nothing
        if not role_eligibility(request.role, request.requester):
            _transition(request, source=State.PENDING, target=State.DENIED, decided_at=now())
            audit_record(
                actor=None,
                action="request.denied",
                request=request,
                details={"reason": "requester_not_eligible", "noticed_by": actor.pk},
            )
            _notify(request, "denied")
            requester_left = True
        else:
            _record_approval(
                request, actor=actor, comment=comment, duration_minutes=duration_minutes, http=http_request
            )
    if requester_left:
        raise NotAllowed("The requester is no longer eligible for this role; the request was closed.")
    return request


def _record_approval(request: AccessRequest, *, actor, comment: str, duration_minutes: int | None, http) -> None:
    Approval.objects.create(
        request=request, approver=actor, decision=Approval.Decision.APPROVE, comment=comment.strip(), created_at=now()
    )
    changes = {}
    if duration_minutes is not None and duration_minutes != request.duration_minutes:
        changes["duration_minutes"] = duration_minutes
        AccessRequest.objects.filter(pk=request.pk).update(duration_minutes=duration_minutes, updated_at=now())
        request.duration_minutes = duration_minutes
    approvals = request.approvals.filter(decision=Approval.Decision.APPROVE).count()
    audit_record(
        actor=actor,
        action="request.approval",
        request=request,
        details={"comment": comment.strip(), "approvals": approvals, "required": request.role.approvals_required}
        | changes,
        http_request=http,
    )
    if approvals < request.role.approvals_required:
        return
    _transition(request, source=State.PENDING, target=State.APPROVED, decided_at=now())
    audit_record(actor=actor, action="request.approved", request=request, details={"approvals": approvals})
    if request.extends_id is not None:
        _extension_apply(request)
    else:
        _notify(request, "approved")


def request_deny(*, actor, request_id: int, comment: str, http_request=None) -> AccessRequest:
    """Deny a pending request: one denial ends it."""
    comment = (comment or "").strip()
    with transaction.atomic():
        request = _locked(request_id)
        # Only a pending request can be decided
        if request.state != State.PENDING:
            raise InvalidTransition(f"Request #{request.pk} is {request.state}, not pending.")
        # Nobody decides their own request
        if request.requester_id == actor.pk:
            raise NotAllowed("You cannot deny your own request; cancel it instead.")
        # The approver's groups are re-checked now, so they must be fresh
        _require_fresh_memberships(actor)
        # Only members of an approver group of the role may decide
        if not is_role_approver(request.role, actor):
            raise NotAllowed(f"You are not an approver of {request.role.name}.")
        # Each approver counts once
        if request.approvals.filter(approver=actor).exists():
            raise InvalidTransition("You have already decided on this request.")
        # The requester deserves a reason
        if not comment:
            raise InvalidInput("Say why you deny the request.", fields={"comment": ["A comment is required to deny."]})
        Approval.objects.create(
            request=request, approver=actor, decision=Approval.Decision.DENY, comment=comment, created_at=now()
        )
        _transition(request, source=State.PENDING, target=State.DENIED, decided_at=now())
        audit_record(
            actor=actor,
            action="request.denied",
            request=request,
            details={"comment": comment},
            http_request=http_request,
        )
        _notify(request, "denied")
    return request


def request_cancel(*, actor, request_id: int, http_request=None) -> AccessRequest:
    """Withdraw one's own pending request."""
    with transaction.atomic():
        request = _locked(request_id)
        # Only the requester may cancel
        if request.requester_id != actor.pk:
            raise NotAllowed("Only the requester can cancel a request.")
        # Only while nobody has decided yet
        if request.state != State.PENDING:
            raise InvalidTransition(
                f"Request #{request.pk} is {request.state}; only a pending request can be cancelled."
            )
        _transition(request, source=State.PENDING, target=State.CANCELLED, decided_at=now())
        audit_record(actor=actor, action="request.cancelled", request=request, http_request=http_request)
    return request


def request_expire_pending(*, request_id: int, actor=None) -> AccessRequest:
    """Expire a pending request that nobody reviewed within its role's pending lifetime."""
    with transaction.atomic():
        request = _locked(request_id)
        # Only a pending request waits for review
        if request.state != State.PENDING:
            raise InvalidTransition(f"Request #{request.pk} is {request.state}, not pending.")
        # Only once its waiting time is over
        deadline = request.created_at + timedelta(minutes=request.role.pending_lifetime_minutes)
        if now() < deadline:
            raise InvalidTransition(f"Request #{request.pk} may wait for review until {deadline.isoformat()}.")
        _transition(request, source=State.PENDING, target=State.EXPIRED, decided_at=now())
        audit_record(
            actor=actor,
            action="request.expired",
            request=request,
            details={
                "reason": "not_reviewed_in_time",
                "pending_lifetime_minutes": request.role.pending_lifetime_minutes,
            },
        )
        _notify(request, "expired")
    return request


def request_extend(
    *, actor, request_id: int, duration_minutes: int | None, justification: str, http_request=None
) -> AccessRequest:
    """Ask to extend an active grant: a new request linked to it, under the same approval rules."""
    with transaction.atomic():
        grant = _locked(request_id)
        # Only the holder of a grant may extend it
        if grant.requester_id != actor.pk:
            raise NotAllowed("Only the holder of a grant can extend it.")
        # Only an active grant has an end to move
        if grant.state != State.ACTIVE or grant.extends_id is not None:
            raise InvalidTransition(f"Request #{grant.pk} is {grant.state}; only an active grant can be extended.")
        # The role must still be offered
        role = _offered_role(grant.role)
        # Eligibility rests on memberships read recently
        _require_fresh_memberships(actor)
        # The holder must still be eligible
        because = role_eligibility(role, actor)
        if not because:
            raise NotAllowed(f"You are no longer in a group that may request {role.name}.")
        errors: dict[str, list[str]] = {}
        duration_minutes = _clean_duration(role, duration_minutes, errors)
        justification = _clean_justification(justification, errors)
        # Every field problem is reported at once
        if errors:
            raise InvalidInput("The extension is not valid.", fields=errors)
        # One pending extension per grant
        pending = grant.extensions.filter(state=State.PENDING).first()
        if pending is not None:
            raise _duplicate(pending)
        current = now()
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
        audit_record(
            actor=actor,
            action="request.extension_requested",
            request=extension,
            details={"extends": grant.pk, "duration_minutes": duration_minutes, "eligible_through": because},
            http_request=http_request,
        )
        if role.approvals_required == 0:
            _transition(extension, source=State.PENDING, target=State.APPROVED, decided_at=now())
            audit_record(actor=None, action="request.approved", request=extension, details={"auto": True})
            _extension_apply(extension)
        else:
            _notify(extension, "created")
    return extension


def _extension_apply(extension: AccessRequest) -> None:
    """Move the grant's end by the approved extension (the Vault side follows the new end)."""
    grant = _locked(extension.extends_id)
    # Only a grant that is still active can be extended
    if grant.state != State.ACTIVE or grant.ends_at is None:
        raise InvalidTransition(f"Grant #{grant.pk} is {grant.state}; it can no longer be extended.")
    old_end = grant.ends_at
    new_end = old_end + timedelta(minutes=extension.duration_minutes)
    _transition(grant, source=State.ACTIVE, target=State.ACTIVE, ends_at=new_end, ending_notice_sent_at=None)
    AccessRequest.objects.filter(pk=extension.pk).update(starts_at=old_end, ends_at=new_end)
    extension.starts_at, extension.ends_at = old_end, new_end
    audit_record(
        actor=None,
        action="grant.extended",
        request=grant,
        details={"extension": extension.pk, "old_ends_at": old_end.isoformat(), "new_ends_at": new_end.isoformat()},
    )
    _notify(extension, "approved")


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


def grants_warn_ending_soon() -> int:
    """Warn the holders of active grants that end within `NOTIFY_ENDING_SOON_MINUTES`; each grant once."""
    horizon = now() + timedelta(minutes=settings.NOTIFY_ENDING_SOON_MINUTES)
    warned = 0
    due = AccessRequest.objects.filter(state=State.ACTIVE, ends_at__lte=horizon, ending_notice_sent_at=None)
    for grant in due.only("pk"):
        with transaction.atomic():
            # Claim the warning: another sweeper that got there first updates nothing here.
            claimed = AccessRequest.objects.filter(pk=grant.pk, ending_notice_sent_at=None).update(
                ending_notice_sent_at=now()
            )
            if claimed:
                _notify(grant, "ending_soon")
                warned += 1
    return warned
