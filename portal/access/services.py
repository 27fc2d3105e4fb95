"""The request's state machine: one function per transition, guards first, audit in the same transaction.

pending ─approve (enough approvals)─> approved ─issue─> active ─end─> expired
   │ └─deny─> denied                                    └─revoke─> revoked
   │ └─cancel (requester)─> cancelled
   └─not reviewed in time─> expired

The Vault side (`grant_*`): approved → issuing → active (`grant_issue`), active → revoking →
expired or revoked (`grant_expire`, `grant_revoke`, then `grant_revoke_finish` once Vault has
revoked the token), the one-time reveal (`grant_reveal`), and `grant_recover` for a row left in
`issuing` by a worker that died. Vault calls happen outside database transactions; every step
that follows one is a conditional update, so two workers or two sweepers never act twice.
"""

import math
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from django.conf import settings
from django.db import IntegrityError, transaction

from portal.access import notifications
from portal.access.audit import audit_record
from portal.access.models import AccessRequest, AccessRole, Approval
from portal.access.selectors import is_role_approver, open_request_for, role_eligibility, stale_pending_request_ids
from portal.accounts.selectors import is_application, is_portal_admin, memberships_are_fresh
from portal.core.clock import now
from portal.core.errors import Gone, InvalidInput, InvalidTransition, NotAllowed, NotFound
from portal.core.services import heartbeat_record
from portal.integrations import vault

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
        AccessRequest.objects.select_for_update(of=("self",))
        # The requester's profile too: most transitions check their groups (eligibility, token metadata).
        .select_related("role", "requester__profile")
        .filter(pk=request_id)
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


def _enqueue(task_name: str, request_id: int) -> None:
    """Queue the Celery task `task_name` for the request once the transaction commits (IDs only)."""
    from portal.access import tasks

    transaction.on_commit(lambda: getattr(tasks, task_name).delay(request_id))


def _expire_at(request_id: int, ends_at: datetime) -> None:
    from portal.access import tasks

    tasks.expire_grant.apply_async((request_id,), eta=ends_at)


def _enqueue_issue(request: AccessRequest) -> None:
    # A request that starts later is issued by the sweeper when its time comes.
    if request.requested_starts_at is None or request.requested_starts_at <= now():
        _enqueue("issue_grant", request.pk)


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
    break_glass: bool = False,
) -> AccessRequest:
    """Ask for `role`; a role that needs no approval (or a break-glass activation) is approved at once."""
    role = _offered_role(role)
    # Eligibility rests on memberships read recently
    _require_fresh_memberships(actor)
    # Applications ask only for roles that admit them
    application = is_application(actor)
    if application and not role.applications_may_request:
        raise NotAllowed(f"Applications may not request {role.name}.")
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
        if break_glass or role.approvals_required == 0 or (application and role.applications_auto_approve):
            _transition(request, source=State.PENDING, target=State.APPROVED, decided_at=now())
            details = {"auto": True, "application": True} if application else {"auto": True}
            if break_glass:
                # The caller (portal.breakglass) checked the policy and opens the mandatory review.
                details["break_glass"] = True
            audit_record(actor=None, action="request.approved", request=request, details=details)
            _notify(request, "approved")
            _enqueue_issue(request)
        else:
            _notify(request, "created")
    return request


def _guard_decision(request: AccessRequest, actor, *, verb: str, own_request: str) -> None:
    """Check that `actor` may approve or deny `request` now; raise why not."""
    # Only a pending request can be decided
    if request.state != State.PENDING:
        raise InvalidTransition(f"Request #{request.pk} is {request.state}, not pending.")
    # Nobody decides their own request
    if request.requester_id == actor.pk:
        raise NotAllowed(own_request)
    # Applications never decide: approval is a person's judgement
    if is_application(actor):
        raise NotAllowed(f"Applications cannot {verb} requests.")
    # The approver's groups are re-checked now, so they must be fresh
    _require_fresh_memberships(actor)
    # Only members of an approver group of the role may decide
    if not is_role_approver(request.role, actor):
        raise NotAllowed(f"You are not an approver of {request.role.name}.")
    # Each approver counts once
    if request.approvals.filter(approver=actor).exists():
        raise InvalidTransition("You have already decided on this request.")


def request_approve(
    *, actor, request_id: int, comment: str = "", duration_minutes: int | None = None, http_request=None
) -> AccessRequest:
    """Record the approval of `actor`; with enough distinct approvals the request is approved."""
    requester_left = False
    with transaction.atomic():
        request = _locked(request_id)
        _guard_decision(request, actor, verb="approve", own_request="You cannot approve your own request.")
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
        _enqueue_issue(request)


def request_deny(*, actor, request_id: int, comment: str, http_request=None) -> AccessRequest:
    """Deny a pending request: one denial ends it."""
    comment = (comment or "").strip()
    with transaction.atomic():
        request = _locked(request_id)
        _guard_decision(request, actor, verb="deny", own_request="You cannot deny your own request; cancel it instead.")
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
    # The grant token ends at the old end: the extension gets a token of its own for the new window.
    _enqueue_issue(extension)


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
    # Extensions end with their grant: the grant's holder hears once, about the grant.
    due = AccessRequest.objects.filter(
        state=State.ACTIVE, extends=None, ends_at__lte=horizon, ending_notice_sent_at=None
    )
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


# ----- the Vault side: issue, reveal, revoke, expire, recover -----

# States in which a grant (or an extension) may hold a Vault token.
_HOLDING_STATES = (State.APPROVED, State.ISSUING, State.ACTIVE)
# The sweeper hands a `revoking` row to a worker again after this long without progress.
REVOKE_REDRIVE_AFTER = timedelta(seconds=10)
# An approved request is handed to a worker again after at least this long (the fast path queued it).
ISSUE_REDRIVE_AFTER = timedelta(seconds=5)
ISSUE_BACKOFF_MAX = timedelta(minutes=5)


def issue_backoff(attempts: int) -> timedelta:
    """Return how long to wait after `attempts` failed issue attempts before the next one."""
    if attempts <= 0:
        return timedelta(0)
    return min(timedelta(seconds=2**attempts), ISSUE_BACKOFF_MAX)


def issuing_stuck_after() -> timedelta:
    """Return how long an `issuing` row may stay untouched before it counts as abandoned by its worker."""
    # A worker makes at most three Vault calls while issuing, each bounded by the Vault timeout.
    return timedelta(seconds=4 * settings.VAULT_TIMEOUT_SECONDS + 10)


def _correlation(request: AccessRequest) -> str:
    return f"access-request-{request.pk}"


def _short(error: Exception) -> str:
    return str(getattr(error, "detail", error))[:500]


def _token_metadata(request: AccessRequest) -> dict[str, str]:
    profile = getattr(request.requester, "profile", None)
    approvers = request.approvals.filter(decision=Approval.Decision.APPROVE).select_related("approver__profile")
    metadata = {
        "request_id": str(request.pk),
        "requester_oid": profile.oid if profile else "",
        "requester_upn": request.requester_label,
        "approvers": ",".join(approval.approver_label for approval in approvers) or "auto",
    }
    if request.extends_id:
        metadata["extends"] = str(request.extends_id)
    return metadata


def _close_unissued(request: AccessRequest, *, reason: str, detail: str) -> AccessRequest:
    """Move a claimed request to `failed` without issuing anything; the history says why."""
    _transition(request, source=request.state, target=State.FAILED, last_error=detail[:500])
    audit_record(actor=None, action="grant.not_issued", request=request, details={"reason": reason})
    _notify(request, "failed")
    return request


def _issue_claim(request_id: int) -> AccessRequest:
    """Claim an approved request for issuing (approved → issuing), after re-checking that it may be issued."""
    with transaction.atomic():
        extends_id = AccessRequest.objects.filter(pk=request_id).values_list("extends_id", flat=True).first()
        # Lock the grant before its extension, the order revocation uses too.
        grant = _locked(extends_id) if extends_id else None
        request = _locked(request_id)
        # Only an approved request is issued
        if request.state != State.APPROVED:
            raise InvalidTransition(f"Request #{request.pk} is {request.state}, not approved.")
        # Not before its requested start
        if request.requested_starts_at and request.requested_starts_at > now():
            raise InvalidTransition(f"Request #{request.pk} starts at {request.requested_starts_at.isoformat()}.")
        # An extension needs a grant that is still running
        if grant is not None and (grant.state != State.ACTIVE or grant.ends_at <= now()):
            return _close_unissued(
                request, reason="grant_ended", detail=f"Grant #{grant.pk} ended before the extension was issued."
            )
        # The requester must still be eligible when access starts
        if not role_eligibility(request.role, request.requester):
            return _close_unissued(
                request, reason="requester_not_eligible", detail="The requester is no longer eligible for this role."
            )
        return _transition(
            request, source=State.APPROVED, target=State.ISSUING, issue_attempts=request.issue_attempts + 1
        )


def _issue_retreat(request: AccessRequest, error: Exception) -> None:
    """Give a claim back after a failed attempt: approved and waiting for Vault, or failed when out of retries."""
    out_of_retries = request.issue_attempts >= settings.GRANT_ISSUE_MAX_ATTEMPTS
    final = out_of_retries or not isinstance(error, vault.VaultUnavailable)
    target = State.FAILED if final else State.APPROVED
    with transaction.atomic():
        moved = AccessRequest.objects.filter(pk=request.pk, state=State.ISSUING, vault_token_accessor="").update(
            state=target, last_error=_short(error), updated_at=now()
        )
        if moved and final:
            audit_record(
                actor=None,
                action="grant.issue_failed",
                request=request,
                details={"attempts": request.issue_attempts, "error": _short(error)},
            )
            _notify(request, "failed")


def _issue_record_accessor(request: AccessRequest, accessor: str) -> datetime:
    """Commit the new token's accessor before anything else happens with the token; return the row's stamp."""
    stamp = now()
    with transaction.atomic():
        recorded = AccessRequest.objects.filter(pk=request.pk, state=State.ISSUING, vault_token_accessor="").update(
            vault_token_accessor=accessor, updated_at=stamp
        )
    if not recorded:
        # Revoked or recovered meanwhile: the token must not outlive this attempt.
        vault.revoke_grant_token(accessor=accessor)
        raise InvalidTransition(f"Request #{request.pk} is no longer being issued.")
    return stamp


def _issue_abandon_token(request: AccessRequest, accessor: str, stamp: datetime, error: Exception) -> None:
    """Revoke a token whose credentials could not be read, and give the claim back; else leave it to recovery."""
    try:
        vault.revoke_grant_token(accessor=accessor)
    except vault.VaultError:
        # Vault is unreachable: the row keeps the accessor in `issuing`, and `grant_recover` revokes it later.
        AccessRequest.objects.filter(pk=request.pk, state=State.ISSUING, updated_at=stamp).update(
            last_error=_short(error)
        )
        return
    AccessRequest.objects.filter(pk=request.pk, state=State.ISSUING, updated_at=stamp).update(vault_token_accessor="")
    _issue_retreat(request, error)


def grant_issue(*, request_id: int) -> AccessRequest:
    """Issue an approved request: an orphan grant token for the window, its credentials wrapped; then active.

    The token's accessor is committed before the credentials are read, so that a crash never leaves
    a credential the portal does not know about. An extension gets a token of its own that ends with
    the grant's new end; the holder reveals its credentials like the first ones.
    """
    request = _issue_claim(request_id)
    if request.state != State.ISSUING:
        return request
    role = request.role
    issued_at = now()
    if request.extends_id:
        ends_at = AccessRequest.objects.get(pk=request.extends_id).ends_at
        ttl_seconds = math.ceil((ends_at - issued_at).total_seconds())
    else:
        ends_at = issued_at + timedelta(minutes=request.duration_minutes)
        ttl_seconds = request.duration_minutes * 60
    with vault.correlate(_correlation(request)):
        try:
            token = vault.create_grant_token(
                mount=role.vault_mount,
                role=role.vault_role,
                ttl_seconds=max(ttl_seconds, 1),
                metadata=_token_metadata(request),
            )
        except vault.VaultError as error:
            _issue_retreat(request, error)
            raise
        stamp = _issue_record_accessor(request, token.accessor)
        try:
            wrapped = vault.read_wrapped_credentials(
                token=token.token, mount=role.vault_mount, role=role.vault_role, wrap_ttl_seconds=max(ttl_seconds, 1)
            )
        except vault.VaultError as error:
            _issue_abandon_token(request, token.accessor, stamp, error)
            raise
    return _issue_complete(request, accessor=token.accessor, stamp=stamp, wrapped=wrapped, ends_at=ends_at)


def _issue_complete(
    request: AccessRequest, *, accessor: str, stamp: datetime, wrapped: vault.WrappedCredentials, ends_at: datetime
) -> AccessRequest:
    fields = {"wrapped_secret": wrapped.wrapping_token, "last_error": ""}
    if not request.extends_id:
        fields |= {"starts_at": ends_at - timedelta(minutes=request.duration_minutes), "ends_at": ends_at}
    with transaction.atomic():
        # Conditional on the stamp of this attempt: recovery may have taken the row over.
        done = AccessRequest.objects.filter(
            pk=request.pk, state=State.ISSUING, vault_token_accessor=accessor, updated_at=stamp
        ).update(state=State.ACTIVE, updated_at=now(), **fields)
        if done:
            request.refresh_from_db()
            audit_record(
                actor=None,
                action="grant.issued",
                request=request,
                details={
                    "token_accessor": accessor,
                    "ends_at": ends_at.isoformat(),
                    "attempts": request.issue_attempts,
                    "extends": request.extends_id,
                },
            )
            _notify(request, "issued")
            if not request.extends_id:
                # The fast path at the end; the sweeper is the one that never misses it.
                request_pk = request.pk
                transaction.on_commit(lambda: _expire_at(request_pk, ends_at))
    if not done:
        vault.revoke_grant_token(accessor=accessor)
        raise InvalidTransition(f"Request #{request.pk} was taken over while it was being issued.")
    return request


def grant_recover(*, request_id: int) -> AccessRequest:
    """Take over a request that a dead worker left in `issuing`: revoke its token, then retry or fail it."""
    with transaction.atomic():
        request = _locked(request_id)
        # Only a request being issued can be abandoned
        if request.state != State.ISSUING:
            raise InvalidTransition(f"Request #{request.pk} is {request.state}, not issuing.")
        # Only once its worker has had time enough to finish
        if request.updated_at > now() - issuing_stuck_after():
            raise InvalidTransition(f"Request #{request.pk} is still being issued.")
        # Claim it: the worker, if alive after all, then fails its own conditional update
        stamp = now()
        AccessRequest.objects.filter(pk=request.pk).update(updated_at=stamp)
    accessor = request.vault_token_accessor
    if accessor:
        with vault.correlate(_correlation(request)):
            try:
                vault.revoke_grant_token(accessor=accessor)
                if vault.grant_token_alive(accessor=accessor):
                    raise vault.VaultUnavailable("Vault has not revoked the token yet.")
            except vault.VaultError as error:
                AccessRequest.objects.filter(pk=request.pk, updated_at=stamp).update(last_error=_short(error))
                raise
    out_of_retries = request.issue_attempts >= settings.GRANT_ISSUE_MAX_ATTEMPTS
    target = State.FAILED if out_of_retries else State.APPROVED
    with transaction.atomic():
        moved = AccessRequest.objects.filter(pk=request.pk, state=State.ISSUING, updated_at=stamp).update(
            state=target,
            vault_token_accessor="",
            wrapped_secret="",
            last_error="Issuing was interrupted; any token it made was revoked.",
            updated_at=now(),
        )
        if not moved:
            raise InvalidTransition(f"Request #{request.pk} changed while it was being recovered.")
        audit_record(
            actor=None,
            action="grant.issue_recovered",
            request=request,
            details={"revoked_token_accessor": accessor or None, "next": target},
        )
        if target == State.FAILED:
            _notify(request, "failed")
    request.refresh_from_db()
    if target == State.APPROVED:
        _enqueue_after_commit_now("issue_grant", request.pk)
    return request


def _enqueue_after_commit_now(task_name: str, request_id: int) -> None:
    with transaction.atomic():
        _enqueue(task_name, request_id)


def grant_revoke(*, actor, request_id: int, reason: str = "", http_request=None) -> AccessRequest:
    """End a grant early (→ revoking); a worker revokes its Vault token, then it is `revoked`."""
    reason = (reason or "").strip()
    with transaction.atomic():
        request = _locked(request_id)
        # Extensions end with their grant
        if request.extends_id is not None:
            raise InvalidTransition(f"Request #{request.pk} is an extension; revoke grant #{request.extends_id}.")
        # Only the holder, an approver of the role or a portal admin may revoke
        if request.requester_id != actor.pk and not is_portal_admin(actor):
            if not is_role_approver(request.role, actor):
                raise NotAllowed("Only the holder, an approver of the role or a portal admin can revoke a grant.")
            # An approver's groups are re-checked now, so they must be fresh
            _require_fresh_memberships(actor)
        # Only a grant that is approved, being issued or active has something to revoke
        if request.state not in _HOLDING_STATES:
            raise InvalidTransition(f"Request #{request.pk} is {request.state}; there is nothing to revoke.")
        # A reason fits the history
        if len(reason) > 500:
            raise InvalidInput("Keep the reason short.", fields={"reason": ["At most 500 characters."]})
        _transition(
            request,
            source=request.state,
            target=State.REVOKING,
            revoked_by=actor,
            revoke_reason=reason,
            closing_as=State.REVOKED,
        )
        audit_record(
            actor=actor,
            action="grant.revoke_requested",
            request=request,
            details={"reason": reason} if reason else {},
            http_request=http_request,
        )
        _enqueue("revoke_grant", request.pk)
    return request


def grants_revoke_bulk(*, actor, user=None, role: AccessRole | None = None, reason: str = "", http_request=None):
    """Revoke every open grant of a user or of a role (portal admins only); return the revoked requests."""
    # Only portal admins revoke in bulk
    if not is_portal_admin(actor):
        raise NotAllowed("Only portal admins can revoke grants in bulk.")
    # Exactly one of the two scopes
    if (user is None) == (role is None):
        raise InvalidInput("Revoke the grants of one user or of one role.")
    scope = AccessRequest.objects.filter(state__in=_HOLDING_STATES, extends=None)
    scope = scope.filter(requester=user) if user is not None else scope.filter(role=role)
    revoked = []
    for request_id in scope.values_list("pk", flat=True):
        try:
            revoked.append(grant_revoke(actor=actor, request_id=request_id, reason=reason, http_request=http_request))
        except InvalidTransition:
            # Ended or revoked by someone else in the meantime.
            continue
    return revoked


def grant_expire(*, request_id: int) -> AccessRequest:
    """Close a grant whose window has passed (→ revoking); a worker revokes its token, then it is `expired`."""
    with transaction.atomic():
        request = _locked(request_id)
        # Extensions end with their grant
        if request.extends_id is not None:
            raise InvalidTransition(f"Request #{request.pk} is an extension; it ends with its grant.")
        # Only an active grant ends
        if request.state != State.ACTIVE:
            raise InvalidTransition(f"Request #{request.pk} is {request.state}, not active.")
        # Only once its window has passed (an extension may have moved it)
        if request.ends_at is None or request.ends_at > now():
            raise InvalidTransition(f"Grant #{request.pk} runs until {request.ends_at}.")
        _transition(request, source=State.ACTIVE, target=State.REVOKING, closing_as=State.EXPIRED)
        audit_record(
            actor=None, action="grant.ended", request=request, details={"ends_at": request.ends_at.isoformat()}
        )
        _enqueue("revoke_grant", request.pk)
    return request


def grant_revoke_finish(*, request_id: int) -> AccessRequest:
    """Revoke the Vault tokens of a `revoking` grant and its extensions; then the grant is expired or revoked."""
    request = AccessRequest.objects.select_related("role", "requester").filter(pk=request_id).first()
    if request is None:
        raise NotFound(f"There is no request #{request_id}.")
    # Only a grant being revoked is finished here
    if request.state != State.REVOKING:
        raise InvalidTransition(f"Request #{request.pk} is {request.state}, not revoking.")
    extensions = request.extensions.filter(state__in=_HOLDING_STATES)
    accessors = [
        a for a in [request.vault_token_accessor, *extensions.values_list("vault_token_accessor", flat=True)] if a
    ]
    with vault.correlate(_correlation(request)):
        try:
            for accessor in accessors:
                vault.revoke_grant_token(accessor=accessor)
            # Revocation answered; make sure Vault no longer knows any of the tokens.
            if any(vault.grant_token_alive(accessor=accessor) for accessor in accessors):
                raise vault.VaultUnavailable("Vault still knows a revoked grant token.")
        except vault.VaultError as error:
            AccessRequest.objects.filter(pk=request.pk, state=State.REVOKING).update(
                last_error=_short(error), updated_at=now()
            )
            raise
    target = request.closing_as or State.REVOKED
    with transaction.atomic():
        done = AccessRequest.objects.filter(pk=request.pk, state=State.REVOKING).update(
            state=target, wrapped_secret="", last_error="", updated_at=now()
        )
        if not done:
            raise InvalidTransition(f"Request #{request.pk} was finished by another worker.")
        # A wrapped secret never revealed is simply dropped: its credentials died with the token.
        extensions.update(state=target, wrapped_secret="", updated_at=now())
        request.refresh_from_db()
        audit_record(
            actor=None,
            action=f"grant.{target}",
            request=request,
            details={
                "token_accessors": accessors,
                "revoked_by": request.revoked_by.get_username() if request.revoked_by else None,
                "reason": request.revoke_reason,
            }
            if target == State.REVOKED
            else {"token_accessors": accessors},
        )
        if target == State.REVOKED:
            _notify(request, "revoked")
        else:
            _notify(request, "ended")
    return request


@dataclass(frozen=True)
class RevealedCredentials:
    """Database credentials shown once, and the ready-made ways to connect with them."""

    username: str
    password: str = field(repr=False)
    host: str
    port: int
    database: str
    expires_at: datetime

    @property
    def connection_uri(self) -> str:
        user, password = quote(self.username, safe=""), quote(self.password, safe="")
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{quote(self.database, safe='')}"

    @property
    def psql_command(self) -> str:
        return f"psql {shlex.quote(self.connection_uri)}"

    @property
    def pgpass_line(self) -> str:
        def escape(value) -> str:
            return str(value).replace("\\", "\\\\").replace(":", "\\:")

        return ":".join(escape(part) for part in (self.host, self.port, self.database, self.username, self.password))

    @property
    def jdbc_url(self) -> str:
        user, password = quote(self.username, safe=""), quote(self.password, safe="")
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}?user={user}&password={password}"


def _connection(role: AccessRole) -> vault.ConnectionInfo:
    """Return where the role's credentials connect: the catalog's overrides, else Vault's connection."""
    if role.db_host and role.db_port and role.db_name:
        return vault.ConnectionInfo(host=role.db_host, port=role.db_port, database=role.db_name)
    found = vault.connection_info(mount=role.vault_mount, role=role.vault_role)
    return vault.ConnectionInfo(
        host=role.db_host or found.host, port=role.db_port or found.port, database=role.db_name or found.database
    )


def grant_reveal(*, actor, request_id: int, http_request=None) -> RevealedCredentials:
    """Unwrap the grant's credentials for its holder, exactly once, and forget the wrapping token."""
    with transaction.atomic():
        request = _locked(request_id)
        # Only the holder sees the credentials
        if request.requester_id != actor.pk:
            raise NotAllowed("Only the holder of a grant can reveal its credentials.")
        # Only while the grant runs
        if request.state != State.ACTIVE:
            raise InvalidTransition(f"Request #{request.pk} is {request.state}, not active.")
        # Exactly once: a concurrent reveal waits for the lock above and then finds this set
        if request.revealed_at is not None or not request.wrapped_secret:
            raise Gone("The credentials were already revealed; revoke the grant and ask again if they were lost.")
        role = request.role
        with vault.correlate(_correlation(request)):
            connection = _connection(role)
            # A failure here rolls everything back: the wrapping token stays for another try.
            credentials = vault.unwrap_credentials(
                wrapping_token=request.wrapped_secret,
                expected_path=vault.creds_path(mount=role.vault_mount, role=role.vault_role),
            )
        revealed = AccessRequest.objects.filter(pk=request.pk, state=State.ACTIVE, revealed_at=None).update(
            revealed_at=now(), wrapped_secret="", updated_at=now()
        )
        if not revealed:
            raise Gone("The credentials were already revealed.")
        audit_record(
            actor=actor,
            action="grant.revealed",
            request=request,
            details={"username": credentials.username, "lease_id": credentials.lease_id},
            http_request=http_request,
        )
        if request.extends_id is not None:
            # The holder has the extension's credentials now: the earlier tokens of the grant can go.
            _enqueue("retire_tokens", request.pk)
        # When this row's own token ends: a grant's first window, or the end an extension was issued for.
        expires_at = request.ends_at
        if request.extends_id is None:
            expires_at = request.starts_at + timedelta(minutes=request.duration_minutes)
    return RevealedCredentials(
        username=credentials.username,
        password=credentials.password,
        host=connection.host,
        port=connection.port,
        database=connection.database,
        expires_at=expires_at,
    )


def grant_retire_earlier_tokens(*, request_id: int) -> list[str]:
    """Revoke the tokens that a revealed extension replaces (the grant's and older extensions'); return them."""
    extension = AccessRequest.objects.filter(pk=request_id).first()
    if extension is None or extension.extends_id is None:
        raise NotFound(f"There is no extension #{request_id}.")
    # Only once the extension's own credentials are in the holder's hands
    if extension.state != State.ACTIVE or extension.revealed_at is None:
        raise InvalidTransition(f"Extension #{extension.pk} has not been revealed.")
    earlier = AccessRequest.objects.filter(pk=extension.extends_id) | AccessRequest.objects.filter(
        extends_id=extension.extends_id, pk__lt=extension.pk
    )
    accessors = [a for a in earlier.values_list("vault_token_accessor", flat=True) if a]
    with vault.correlate(_correlation(extension)):
        for accessor in accessors:
            vault.revoke_grant_token(accessor=accessor)
    audit_record(
        actor=None,
        action="grant.tokens_retired",
        request=extension,
        details={"token_accessors": accessors, "replaced_by": extension.vault_token_accessor},
    )
    return accessors


# ----- the sweeper -----


def grants_sweep() -> dict[str, int]:
    """Do what the schedule in the database says is due; safe to run in several processes at once."""
    heartbeat_record(name="sweeper")
    counts = {
        "stale_expired": requests_expire_stale(),
        "warned": grants_warn_ending_soon(),
        "ended": _sweep_ended(),
    }
    counts["issue_queued"] = _redrive(
        AccessRequest.objects.filter(state=State.APPROVED).exclude(requested_starts_at__gt=now()),
        "issue_grant",
        lambda row: max(issue_backoff(row.issue_attempts), ISSUE_REDRIVE_AFTER),
    )
    counts["revoke_queued"] = _redrive(
        AccessRequest.objects.filter(state=State.REVOKING), "revoke_grant", lambda row: REVOKE_REDRIVE_AFTER
    )
    counts["recover_queued"] = 0
    stuck = AccessRequest.objects.filter(state=State.ISSUING, updated_at__lte=now() - issuing_stuck_after())
    for request_id in stuck.values_list("pk", flat=True):
        _enqueue_after_commit_now("recover_grant", request_id)
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
                state=State.ACTIVE, extends=None, ends_at__lte=now()
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
        current = now()
        for row in list(rows[:200]):
            if row.updated_at > current - wait(row):
                continue
            AccessRequest.objects.filter(pk=row.pk, state=row.state).update(updated_at=current)
            _enqueue(task_name, row.pk)
            queued += 1
    return queued
