"""Ending a grant: revoked on demand (one or in bulk), ended when its window passes, then its Vault tokens revoked.

active ─revoke/end─> revoking ─Vault confirms─> revoked or expired. `grant_revoke_finish` runs in a
worker and retries until Vault confirms; `grant_retire_earlier_tokens` revokes the tokens that a
revealed extension replaced.
"""

from django.db import transaction

from portal.access import policy
from portal.access.audit import audit_record_many
from portal.access.models import (
    HOLDING_STATES,
    REASON_MAX_CHARS,
    REVOCABLE_STATES,
    AccessRequest,
    AccessRole,
    AuditAction,
    NotificationEvent,
    person_label,
)
from portal.access.services.cleaning import clean_note
from portal.access.services.kernel import (
    correlation,
    locked,
    locked_many,
    notify,
    queue,
    queue_batches,
    record,
    short,
    transition,
    transition_many,
)
from portal.core import clock
from portal.core.errors import InvalidInput, InvalidTransition, NotFound
from portal.integrations import vault

State = AccessRequest.State


def _clean_reason(reason: str | None, *, required: bool) -> str:
    """Return the reason of a revocation, stripped; refuse a missing one where it is required, or a long one."""
    missing = ("Give a reason to revoke grants in bulk: it goes into the history.", "A reason is required.")
    return clean_note(reason, field="reason", max_chars=REASON_MAX_CHARS, missing=missing if required else None)


def revocation_start(grant: AccessRequest, *, by, reason: str) -> None:
    """Move a locked grant to `revoking` (to end as `revoked`) and queue the revocation of its tokens."""
    transition(
        grant, source=grant.state, target=State.REVOKING, revoked_by=by, revoke_reason=reason, closing_as=State.REVOKED
    )
    queue("revoke_grant", grant.pk)


def grant_revoke(*, actor, request_id: int, reason: str = "", http_request=None) -> AccessRequest:
    """End a grant early (→ revoking); a worker revokes its Vault token, then it is `revoked`."""
    reason = _clean_reason(reason, required=False)
    with transaction.atomic():
        request = locked(request_id)
        policy.check_revoke(actor, request)
        revocation_start(request, by=actor, reason=reason)
        record(
            actor=actor,
            action=AuditAction.GRANT_REVOKE_REQUESTED,
            request=request,
            details={"reason": reason} if reason else {},
            http_request=http_request,
        )
    return request


# Grants revoked in bulk are moved and recorded this many to a transaction: one conditional update, one
# insert of their events (one turn of the audit chain's lock), then their revocations are queued. One
# transaction per grant made the admin's call, not Vault, the limit of how fast they were revoked.
BULK_REVOKE_BATCH = 50
# Grants ended or revoked together are handed to workers this many to a task (`expire_grants`, `revoke_grants`
# in `batch_ending`): enough to share the commits, few enough that every worker process takes some.
REVOKE_BATCH = 25


def grants_revoke_bulk(*, actor, user=None, role: AccessRole | None = None, reason: str = "", http_request=None):
    """Revoke every open grant of a user or of a role (portal admins only); return the revoked requests."""
    policy.check_admin(actor, doing="revoke grants in bulk")
    # Exactly one of the two scopes
    if (user is None) == (role is None):
        raise InvalidInput("Revoke the grants of one user or of one role.")
    # Ending many people's access at once says why, for the history
    reason = _clean_reason(reason, required=True)
    scope = AccessRequest.objects.filter(state__in=REVOCABLE_STATES, extends=None)
    scope = scope.filter(requester=user) if user is not None else scope.filter(role=role)
    ids = list(scope.order_by("pk").values_list("pk", flat=True))
    revoked = []
    for start in range(0, len(ids), BULK_REVOKE_BATCH):
        revoked += _revoke_batch(actor, ids[start : start + BULK_REVOKE_BATCH], reason, http_request)
    return revoked


def _revoke_batch(actor, ids: list[int], reason: str, http_request) -> list[AccessRequest]:
    """Revoke the grants `ids` still revocable (→ revoking), as `grant_revoke` does each, in one transaction."""
    with transaction.atomic():
        chosen = []
        for request in locked_many(pk__in=ids):
            try:
                policy.check_revoke(actor, request)
            except InvalidTransition:
                # Ended or revoked by someone else in the meantime.
                continue
            chosen.append(request)
        # Conditional, although the rows are locked and were just checked: revocable, not yet revoking.
        transition_many(
            chosen,
            sources=REVOCABLE_STATES,
            target=State.REVOKING,
            conflict="Grants changed while they were being revoked; nothing was revoked.",
            revoked_by=actor,
            revoke_reason=reason,
            closing_as=State.REVOKED,
        )
        audit_record_many(
            [
                {
                    "actor": actor,
                    "action": AuditAction.GRANT_REVOKE_REQUESTED,
                    "request": request,
                    "details": {"reason": reason},
                    "http_request": http_request,
                }
                for request in chosen
            ]
        )
        queue_batches("revoke_grants", [request.pk for request in chosen], size=REVOKE_BATCH)
    return chosen


def grant_expire(*, request_id: int, queue_revocation: bool = True) -> AccessRequest:
    """Close a grant whose window has passed (→ revoking); a worker revokes its token, then it is `expired`.

    A caller that revokes it at once itself passes `queue_revocation=False`; should it die first, the
    sweeper hands the `revoking` grant to a worker again.
    """
    with transaction.atomic():
        request = locked(request_id)
        # Extensions end with their grant
        if request.extends_id is not None:
            raise InvalidTransition(f"Request #{request.pk} is an extension; it ends with its grant.")
        # Only an active grant ends
        if request.state != State.ACTIVE:
            raise InvalidTransition(f"Request #{request.pk} is {request.state}, not active.")
        # Only once its window has passed (an extension may have moved it)
        if request.ends_at is None or request.ends_at > clock.now():
            raise InvalidTransition(f"Grant #{request.pk} runs until {request.ends_at}.")
        transition(request, source=State.ACTIVE, target=State.REVOKING, closing_as=State.EXPIRED)
        record(
            actor=None,
            action=AuditAction.GRANT_ENDED,
            request=request,
            details={"ends_at": request.ends_at.isoformat()},
        )
        if queue_revocation:
            queue("revoke_grant", request.pk)
    return request


# Rounds of revoking before giving the task back to retry: an extension may record a token meanwhile.
FINISH_ROUNDS = 3


def grant_revoke_finish(*, request_id: int) -> AccessRequest:
    """Revoke the Vault tokens of a `revoking` grant and its extensions; then the grant is expired or revoked.

    An extension that records a token while this runs is revoked too: the last step locks the grant's
    extensions and starts over if one holds a token not yet revoked.
    """
    request = (
        AccessRequest.objects.select_related("role", "requester", "revoked_by__profile").filter(pk=request_id).first()
    )
    if request is None:
        raise NotFound(f"There is no request #{request_id}.")
    # Only a grant being revoked is finished here
    if request.state != State.REVOKING:
        raise InvalidTransition(f"Request #{request.pk} is {request.state}, not revoking.")
    revoked: list[str] = []
    for _ in range(FINISH_ROUNDS):
        fresh = [accessor for accessor in token_accessors([request])[request.pk] if accessor not in revoked]
        _revoke_tokens(request, fresh)
        revoked += fresh
        with transaction.atomic():
            # Locked: an extension's worker now waits, then finds its extension ended with the grant.
            extensions = list(request.extensions.select_for_update().filter(state__in=HOLDING_STATES))
            if any(ext.vault_token_accessor and ext.vault_token_accessor not in revoked for ext in extensions):
                continue
            return _finish(request, [ext.pk for ext in extensions], revoked)
    raise vault.VaultUnavailable("Extensions kept receiving tokens while the grant was revoked; trying again.")


def token_accessors(grants: list[AccessRequest]) -> dict[int, list[str]]:
    """Return the token accessors of each grant: its own, then its holding extensions'."""
    accessors = {grant.pk: [grant.vault_token_accessor] if grant.vault_token_accessor else [] for grant in grants}
    extensions = (
        AccessRequest.objects.filter(extends_id__in=accessors, state__in=HOLDING_STATES)
        .exclude(vault_token_accessor="")
        .order_by("pk")
        .values_list("extends_id", "vault_token_accessor")
    )
    for grant_id, accessor in extensions:
        accessors[grant_id].append(accessor)
    return accessors


def _revoke_tokens(request: AccessRequest, accessors: list[str]) -> None:
    try:
        vault_revoke(request, accessors)
    except vault.VaultError as error:
        note_revoke_error(request.pk, error)
        raise


def vault_revoke(request: AccessRequest, accessors: list[str]) -> None:
    """Revoke the grant's tokens `accessors` in Vault and make sure Vault no longer knows any of them."""
    with vault.correlate(correlation(request)):
        for accessor in accessors:
            vault.revoke_grant_token(accessor=accessor)
        # Revocation answered; make sure Vault no longer knows any of the tokens.
        if any(vault.grant_token_alive(accessor=accessor) for accessor in accessors):
            raise vault.VaultUnavailable("Vault still knows a revoked grant token.")


def note_revoke_error(request_id: int, error: Exception) -> None:
    """Keep on a `revoking` grant's row why Vault did not revoke it (the retry or the sweeper tries again)."""
    AccessRequest.objects.filter(pk=request_id, state=State.REVOKING).update(
        last_error=short(error), updated_at=clock.now()
    )


def _finish(request: AccessRequest, extension_ids: list[int], accessors: list[str]) -> AccessRequest:
    if not close_revoked(request, extension_ids):
        raise InvalidTransition(f"Request #{request.pk} was finished by another worker.")
    record(**closing_event(request, accessors))
    closing_notice(request)
    return request


def close_revoked(request: AccessRequest, extension_ids: list[int]) -> bool:
    """Move a `revoking` grant and its extensions `extension_ids` to the end it was closing as; False if moved on."""
    target = request.closing_as or State.REVOKED
    fields = {"state": target, "wrapped_secret": "", "last_error": "", "updated_at": clock.now()}
    if not AccessRequest.objects.filter(pk=request.pk, state=State.REVOKING).update(**fields):
        return False
    # A wrapped secret never revealed is simply dropped: its credentials died with the token.
    if extension_ids:
        AccessRequest.objects.filter(pk__in=extension_ids).update(
            state=target, wrapped_secret="", updated_at=fields["updated_at"]
        )
    # The row is as it was read but for these (only a `revoking` row was moved, and nothing else moves one).
    for name, value in fields.items():
        setattr(request, name, value)
    return True


def closing_event(request: AccessRequest, accessors: list[str]) -> dict:
    """Return the audit event (`audit_record`'s arguments) of a grant whose tokens Vault revoked."""
    details = {"token_accessors": accessors}
    if request.state == State.REVOKED:
        details["revoked_by"] = person_label(request.revoked_by) if request.revoked_by else None
        details["reason"] = request.revoke_reason
    return {"actor": None, "action": AuditAction(f"grant.{request.state}"), "request": request, "details": details}


def closing_notice(request: AccessRequest) -> None:
    """Tell the holder, once committed, that their grant was revoked or has ended."""
    notify(request, NotificationEvent.REVOKED if request.state == State.REVOKED else NotificationEvent.ENDED)


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
    with vault.correlate(correlation(extension)):
        for accessor in accessors:
            vault.revoke_grant_token(accessor=accessor)
    record(
        actor=None,
        action=AuditAction.GRANT_TOKENS_RETIRED,
        request=extension,
        details={"token_accessors": accessors, "replaced_by": extension.vault_token_accessor},
    )
    return accessors
