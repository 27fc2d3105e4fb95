"""Issuing an approved request: a grant token for the window, its credentials wrapped; recovering a dead worker's claim.

approved → issuing → active. Vault calls happen outside database transactions; every step that
follows one is a conditional update, so two workers never act twice, and the token's accessor is
committed before its credentials are read, so a crash never leaves a credential the portal does not know.
"""

import logging
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from portal.access import policy
from portal.access.audit import audit_proves
from portal.access.models import AccessRequest, Approval, AuditAction, NotificationEvent
from portal.access.services.kernel import (
    ERROR_MAX_CHARS,
    UNREAD,
    correlation,
    locked,
    locked_with_grant,
    notify,
    queue,
    queue_now,
    record,
    short,
    transition,
)
from portal.access.services.revocation import vault_revoke
from portal.core import clock
from portal.core.errors import InvalidTransition
from portal.integrations import vault

logger = logging.getLogger(__name__)

State = AccessRequest.State

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


def token_metadata(request: AccessRequest) -> dict[str, str]:
    """Return what the grant token carries about the request: its ID, the requester, who approved."""
    profile = getattr(request.requester, "profile", None)
    # All of them, filtered here: a batch has them prefetched with their approvers, and one alone reads them now.
    approvers = [approval for approval in request.approval_list if approval.decision == Approval.Decision.APPROVE]
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
    transition(request, source=request.state, target=State.FAILED, last_error=detail[:ERROR_MAX_CHARS])
    record(actor=None, action=AuditAction.GRANT_NOT_ISSUED, request=request, details={"reason": reason})
    notify(request, NotificationEvent.FAILED)
    return request


def not_approved(request_id: int, state: str) -> InvalidTransition:
    """Return the refusal to issue a request that is not (or no longer) approved."""
    return InvalidTransition(f"Request #{request_id} is {state}, not approved.")


def _issue_claim(request_id: int, *, extends_id=UNREAD) -> AccessRequest:
    """Claim an approved request for issuing (approved → issuing), after re-checking that it may be issued."""
    with transaction.atomic():
        request, grant = locked_with_grant(request_id, extends_id=extends_id)
        return issue_claim_locked(request, grant)


def issue_claim_locked(
    request: AccessRequest,
    grant: AccessRequest | None,
    *,
    approval_proven: bool | None = None,
    excluded_role_ids: set[int] | None = None,
) -> AccessRequest:
    """Claim a locked request (and its locked grant, for an extension); raise InvalidTransition before any write.

    A batch gives what it read for all its requests at once: whether the history proves the approval
    (`audit.audit_proven`) and the roles a review removed the requester from; on its own, each is read here.
    """
    # Only an approved request is issued
    if request.state != State.APPROVED:
        raise not_approved(request.pk, request.state)
    # Not before its requested start
    if request.requested_starts_at and request.requested_starts_at > clock.now():
        raise InvalidTransition(f"Request #{request.pk} starts at {request.requested_starts_at.isoformat()}.")
    # An extension needs a grant that is still running
    if grant is not None and (grant.state != State.ACTIVE or grant.ends_at <= clock.now()):
        return _close_unissued(
            request, reason="grant_ended", detail=f"Grant #{grant.pk} ended before the extension was issued."
        )
    # Only an approval the history proves is issued: a row set to `approved` in the database is not one
    if approval_proven is None:
        approval_proven = audit_proves(request=request, action=AuditAction.REQUEST_APPROVED)
    if not approval_proven:
        logger.error("Request #%s is approved in the database, but no approval of it is in the history", request.pk)
        return _close_unissued(
            request,
            reason="approval_unproven",
            detail="No approval of this request is in the audit history; it was not issued.",
        )
    # The requester must still be eligible when access starts
    if not policy.eligibility(request.role, request.requester, excluded_role_ids=excluded_role_ids):
        return _close_unissued(
            request, reason="requester_not_eligible", detail="The requester is no longer eligible for this role."
        )
    return transition(request, source=State.APPROVED, target=State.ISSUING, issue_attempts=request.issue_attempts + 1)


def issue_retreat(request: AccessRequest, error: Exception) -> None:
    """Give a claim back after a failed attempt: approved and waiting for Vault, or failed when out of retries."""
    out_of_retries = request.issue_attempts >= settings.GRANT_ISSUE_MAX_ATTEMPTS
    final = out_of_retries or not isinstance(error, vault.VaultUnavailable)
    target = State.FAILED if final else State.APPROVED
    with transaction.atomic():
        moved = AccessRequest.objects.filter(pk=request.pk, state=State.ISSUING, vault_token_accessor="").update(
            state=target, last_error=short(error), updated_at=clock.now()
        )
        if moved and final:
            record(
                actor=None,
                action=AuditAction.GRANT_ISSUE_FAILED,
                request=request,
                details={"attempts": request.issue_attempts, "error": short(error)},
            )
            notify(request, NotificationEvent.FAILED)


def _issue_record_accessor(request: AccessRequest, accessor: str) -> datetime:
    """Commit the new token's accessor before anything else happens with the token; return the row's stamp."""
    stamp = clock.now()
    with transaction.atomic():
        recorded = AccessRequest.objects.filter(pk=request.pk, state=State.ISSUING, vault_token_accessor="").update(
            vault_token_accessor=accessor, updated_at=stamp
        )
    if not recorded:
        # Revoked or recovered meanwhile: the token must not outlive this attempt.
        vault.revoke_grant_token(accessor=accessor)
        raise InvalidTransition(f"Request #{request.pk} is no longer being issued.")
    return stamp


def issue_abandon_token(request: AccessRequest, accessor: str, stamp: datetime, error: Exception) -> None:
    """Revoke a token whose credentials could not be read, and give the claim back; else leave it to recovery."""
    try:
        vault.revoke_grant_token(accessor=accessor)
    except vault.VaultError:
        # Vault is unreachable: the row keeps the accessor in `issuing`, and `grant_recover` revokes it later.
        AccessRequest.objects.filter(pk=request.pk, state=State.ISSUING, updated_at=stamp).update(
            last_error=short(error)
        )
        return
    AccessRequest.objects.filter(pk=request.pk, state=State.ISSUING, updated_at=stamp).update(vault_token_accessor="")
    issue_retreat(request, error)


def grant_issue(*, request_id: int, extends_id=UNREAD) -> AccessRequest:
    """Issue an approved request: an orphan grant token for the window, its credentials wrapped; then active.

    The token's accessor is committed before the credentials are read, so that a crash never leaves
    a credential the portal does not know about. An extension gets a token of its own that ends with
    the grant's new end; the holder reveals its credentials like the first ones. A caller that has just read
    the request's `extends_id` passes it (see `locked_with_grant`).
    """
    return grant_issue_claimed(_issue_claim(request_id, extends_id=extends_id))


def grant_issue_claimed(request: AccessRequest) -> AccessRequest:
    """Go on with `grant_issue` after the claim: nothing to do unless the claim left the request `issuing`."""
    if request.state != State.ISSUING:
        return request
    role = request.role
    ends_at, ttl_seconds = issue_window(request)
    with vault.correlate(correlation(request)):
        try:
            token = vault.create_grant_token(
                mount=role.vault_mount,
                role=role.vault_role,
                ttl_seconds=ttl_seconds,
                metadata=token_metadata(request),
            )
        except vault.VaultError as error:
            issue_retreat(request, error)
            raise
        stamp = _issue_record_accessor(request, token.accessor)
        try:
            wrapped = vault.read_wrapped_credentials(
                token=token.token, mount=role.vault_mount, role=role.vault_role, wrap_ttl_seconds=ttl_seconds
            )
        except vault.VaultError as error:
            issue_abandon_token(request, token.accessor, stamp, error)
            raise
    return _issue_complete(request, accessor=token.accessor, stamp=stamp, wrapped=wrapped, ends_at=ends_at)


def issue_window(request: AccessRequest) -> tuple[datetime, int]:
    """Return when a grant issued now ends and its token's TTL in seconds (an extension's: its grant's end)."""
    issued_at = clock.now()
    if request.extends_id:
        ends_at = AccessRequest.objects.get(pk=request.extends_id).ends_at
        return ends_at, max(math.ceil((ends_at - issued_at).total_seconds()), 1)
    return issued_at + timedelta(minutes=request.duration_minutes), max(request.duration_minutes * 60, 1)


def _issue_complete(
    request: AccessRequest, *, accessor: str, stamp: datetime, wrapped: vault.WrappedCredentials, ends_at: datetime
) -> AccessRequest:
    with transaction.atomic():
        done = issue_activate(request, accessor=accessor, stamp=stamp, wrapped=wrapped, ends_at=ends_at)
        if done:
            record(**issued_event(request, ends_at))
            issued_after(request, ends_at)
    if not done:
        vault.revoke_grant_token(accessor=accessor)
        raise InvalidTransition(f"Request #{request.pk} was taken over while it was being issued.")
    return request


def issue_activate(
    request: AccessRequest, *, accessor: str, stamp: datetime, wrapped: vault.WrappedCredentials, ends_at: datetime
) -> bool:
    """Move the request this attempt claimed to `active` with its wrapped credentials; False if taken over."""
    fields = {"wrapped_secret": wrapped.wrapping_token, "last_error": ""}
    if not request.extends_id:
        fields |= {"starts_at": ends_at - timedelta(minutes=request.duration_minutes), "ends_at": ends_at}
    # Conditional on the stamp of this attempt: recovery may have taken the row over.
    claimed = AccessRequest.objects.filter(
        pk=request.pk, state=State.ISSUING, vault_token_accessor=accessor, updated_at=stamp
    )
    if request.extends_id:
        # An extension comes to life only while its grant runs: one being revoked takes it along.
        claimed = claimed.filter(extends__state=State.ACTIVE)
    fields |= {"state": State.ACTIVE, "updated_at": clock.now(), "vault_token_accessor": accessor}
    if not claimed.update(**fields):
        return False
    # The conditional update matched the row as this attempt left it: it now holds these values.
    for name, value in fields.items():
        setattr(request, name, value)
    return True


def issued_event(request: AccessRequest, ends_at: datetime) -> dict:
    """Return the audit event (`audit_record`'s arguments) of a request just made active."""
    details = {
        "token_accessor": request.vault_token_accessor,
        "ends_at": ends_at.isoformat(),
        "attempts": request.issue_attempts,
        "extends": request.extends_id,
    }
    return {"actor": None, "action": AuditAction.GRANT_ISSUED, "request": request, "details": details}


def issued_after(request: AccessRequest, ends_at: datetime) -> None:
    """Once committed: tell the holder, and queue the grant's end (the sweeper is the one that never misses it)."""
    notify(request, NotificationEvent.ISSUED)
    if not request.extends_id:
        queue("expire_grant", request.pk, eta=ends_at)


def grant_recover(*, request_id: int) -> AccessRequest:
    """Take over a request that a dead worker left in `issuing`: revoke its token, then retry or fail it."""
    with transaction.atomic():
        request = locked(request_id)
        # Only a request being issued can be abandoned
        if request.state != State.ISSUING:
            raise InvalidTransition(f"Request #{request.pk} is {request.state}, not issuing.")
        # Only once its worker has had time enough to finish
        if request.updated_at > clock.now() - issuing_stuck_after():
            raise InvalidTransition(f"Request #{request.pk} is still being issued.")
        # Claim it: the worker, if alive after all, then fails its own conditional update
        stamp = clock.now()
        AccessRequest.objects.filter(pk=request.pk).update(updated_at=stamp)
    accessor = request.vault_token_accessor
    if accessor:
        try:
            vault_revoke(request, [accessor])
        except vault.VaultError as error:
            AccessRequest.objects.filter(pk=request.pk, updated_at=stamp).update(last_error=short(error))
            raise
    out_of_retries = request.issue_attempts >= settings.GRANT_ISSUE_MAX_ATTEMPTS
    target = State.FAILED if out_of_retries else State.APPROVED
    with transaction.atomic():
        moved = AccessRequest.objects.filter(pk=request.pk, state=State.ISSUING, updated_at=stamp).update(
            state=target,
            vault_token_accessor="",
            wrapped_secret="",
            last_error="Issuing was interrupted; any token it made was revoked.",
            updated_at=clock.now(),
        )
        if not moved:
            raise InvalidTransition(f"Request #{request.pk} changed while it was being recovered.")
        record(
            actor=None,
            action=AuditAction.GRANT_ISSUE_RECOVERED,
            request=request,
            details={"revoked_token_accessor": accessor or None, "next": target},
        )
        if target == State.FAILED:
            notify(request, NotificationEvent.FAILED)
    request.refresh_from_db()
    if target == State.APPROVED:
        queue_now("issue_grant", request.pk)
    return request
