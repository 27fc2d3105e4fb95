"""Ending grants by the batch: many past their end at once (the sweeper), or revoked in bulk (an admin).

A worker takes up to `REVOKE_BATCH` grants in one task: it closes those past their end in one transaction,
calls Vault for up to `VAULT_PARALLEL` of them at once, and finishes those Vault confirmed in one more
transaction, their events written with one turn of the audit chain's lock. One grant to a task made the
portal's own round trips and commits, not Vault, the limit of how fast 500 grants ending together were gone.

Each step is the one-grant step's, on many rows: conditional updates, an audit event per grant in the same
transaction, the holder told once committed. A grant Vault did not confirm, or whose extension received a
token meanwhile, is handed to the `revoke_grant` task, which retries until Vault confirms. A worker that dies
part way leaves its grants `revoking`, and the sweeper hands them to a worker again.
"""

from django.db import transaction

from portal.access.audit import audit_record_many
from portal.access.models import HOLDING_STATES, AccessRequest, AuditAction
from portal.access.services.kernel import locked_many, queue, transition_many
from portal.access.services.revocation import (
    close_revoked,
    closing_event,
    closing_notice,
    note_revoke_error,
    token_accessors,
    vault_revoke,
)
from portal.core import clock
from portal.core.parallel import each_at_once
from portal.integrations import vault
from portal.logging import log_context

State = AccessRequest.State

# Vault calls in flight per task (the HTTP session keeps 10 connections to Vault).
VAULT_PARALLEL = 8


def grants_expire_many(*, request_ids: list[int]) -> list[AccessRequest]:
    """Close the grants among `request_ids` whose window has passed (→ revoking) in one transaction; return them.

    What is no longer due is left as it is: an extension (it ends with its grant), a grant no longer active,
    or one whose end an extension moved.
    """
    with transaction.atomic():
        due = locked_many(pk__in=request_ids, state=State.ACTIVE, extends=None, ends_at__lte=clock.now())
        # Conditional, although the rows are locked and were just read: active.
        grants = transition_many(due, sources=[State.ACTIVE], target=State.REVOKING, closing_as=State.EXPIRED)
        audit_record_many(
            [
                {
                    "actor": None,
                    "action": AuditAction.GRANT_ENDED,
                    "request": grant,
                    "details": {"ends_at": grant.ends_at.isoformat()},
                }
                for grant in grants
            ]
        )
    return grants


def grants_revoke_finish_many(*, request_ids: list[int]) -> list[AccessRequest]:
    """Revoke the Vault tokens of the `revoking` grants among `request_ids`, then close them; return those closed.

    The others are handed to `revoke_grant`: Vault refused or was down (the row says why), or an extension
    recorded a token meanwhile.
    """
    grants = list(
        AccessRequest.objects.select_related("role", "requester", "revoked_by__profile")
        .filter(pk__in=request_ids, state=State.REVOKING, extends=None)
        .order_by("pk")
    )
    accessors = token_accessors(grants)
    failed = _revoke_in_parallel(grants, accessors)
    with transaction.atomic():
        for request_id, error in failed.items():
            note_revoke_error(request_id, error)
            queue("revoke_grant", request_id)
        revoked = [grant for grant in grants if grant.pk not in failed]
        return _finish_many(revoked, accessors)


def _revoke_in_parallel(grants: list[AccessRequest], accessors: dict[int, list[str]]) -> dict[int, vault.VaultError]:
    """Revoke each grant's tokens, up to `VAULT_PARALLEL` grants at once; return the error of each that failed."""

    def revoke(grant: AccessRequest) -> vault.VaultError | None:
        with log_context(access_request=grant.pk):
            try:
                vault_revoke(grant, accessors[grant.pk])
            except vault.VaultError as error:
                return error
        return None

    errors = each_at_once(grants, revoke, at_most=VAULT_PARALLEL)
    return {grant.pk: error for grant, error in zip(grants, errors, strict=True) if error is not None}


def _finish_many(grants: list[AccessRequest], accessors: dict[int, list[str]]) -> list[AccessRequest]:
    """Close the grants whose tokens Vault revoked, in the caller's transaction; hand over the others."""
    by_id = {grant.pk: grant for grant in grants}
    # The grants first, then their extensions: the order of every transition that locks both.
    still = set(
        AccessRequest.objects.select_for_update()
        .filter(pk__in=by_id, state=State.REVOKING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    extensions: dict[int, list[int]] = {request_id: [] for request_id in still}
    late = set()
    rows = (
        AccessRequest.objects.select_for_update()
        .filter(extends_id__in=still, state__in=HOLDING_STATES)
        .order_by("pk")
        .values_list("pk", "extends_id", "vault_token_accessor")
    )
    for extension_id, grant_id, accessor in rows:
        extensions[grant_id].append(extension_id)
        # An extension that recorded a token after the accessors were read: the one-grant path takes it over.
        if accessor and accessor not in accessors[grant_id]:
            late.add(grant_id)
    closed = []
    for request_id in sorted(still):
        if request_id in late:
            queue("revoke_grant", request_id)
        elif close_revoked(by_id[request_id], extensions[request_id]):
            closed.append(by_id[request_id])
    audit_record_many([closing_event(grant, accessors[grant.pk]) for grant in closed])
    for grant in closed:
        closing_notice(grant)
    return closed
