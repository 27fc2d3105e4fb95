"""Issuing by the batch: a worker that finds other approved requests waiting issues them with its own.

Many requests approved together (a burst of automated ones, an approver clearing a queue) used to cost a
task, three transactions and four Vault calls one after the other per grant, and the portal's own round
trips and commits, not Vault, were the limit. `grant_issue_with_waiting` takes up to `ISSUE_BATCH` of them
(its own first, then those waiting longest that were never tried) and runs each step of `grant_issue` on all
of them: one transaction claims them, their grant tokens are created up to `VAULT_PARALLEL` at once, one
transaction records every accessor before any credentials are read, the wrapped reads run at once too, and
one transaction makes them active with an audit event each, under one turn of the audit chain's lock.
Each Vault role of the batch is checked once before its tokens are created (`vault.check_role`), not once
per token; once a creation goes unanswered, the creations not yet sent are not sent.

The promises are those of `grant_issue`: a claim is a conditional update re-checked under a row lock (other
workers skip the rows a batch holds), each accessor is committed before its credentials are read, and a
request whose attempt fails is given back or failed as on its own. A worker that dies part way leaves its
claims `issuing`, and the sweeper recovers each as it recovers one.
"""

import threading
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from portal.access.audit import audit_proven, audit_record_many
from portal.access.models import AccessRequest, AuditAction, load_approvals
from portal.access.services.issuing import (
    grant_issue,
    grant_issue_claimed,
    issue_abandon_token,
    issue_activate,
    issue_claim_locked,
    issue_retreat,
    issue_window,
    issued_after,
    issued_event,
    not_approved,
    token_metadata,
)
from portal.access.services.kernel import UNREAD, correlation, locked_many
from portal.core import clock
from portal.core.errors import InvalidTransition
from portal.core.parallel import each_at_once
from portal.integrations import vault
from portal.logging import log_context
from portal.reviews.exclusions import requester_excluded_by_review

State = AccessRequest.State

# Requests issued in one task at most; Vault calls in flight per task (the HTTP session keeps 10 connections).
ISSUE_BATCH = 25
VAULT_PARALLEL = 8


def grant_issue_with_waiting(*, request_id: int) -> list[AccessRequest]:
    """Issue the request, and with it the approved requests waiting that were never tried; return those issued.

    On its own (nothing else waits, or it is an extension, or a retry of its own) it is `grant_issue`.
    Raise the error of the request's own attempt, as `grant_issue` does, so that its task retries.
    """
    # A duplicate delivery (claimed or ended already) stops at this read; an extension, or a request not yet
    # due, goes on its own.
    found = AccessRequest.objects.filter(pk=request_id).values_list("state", "extends_id", "requested_starts_at")
    state, extends_id, starts_at = found.first() or (None, UNREAD, None)
    if state is not None and state != State.APPROVED:
        raise not_approved(request_id, state)
    current = clock.now()
    if state is None or extends_id is not None or (starts_at is not None and starts_at > current):
        return [grant_issue(request_id=request_id, extends_id=extends_id)]
    with transaction.atomic():
        # The look for the others is the claim's lock: its own first, then those waiting longest. Another
        # worker may hold its own: then the others go without it, and that worker issues it.
        ready = _locked_to_claim(
            Q(pk=request_id) | Q(issue_attempts=0),
            ~Q(requested_starts_at__gt=current),
            first=request_id,
            limit=ISSUE_BATCH,
        )
        alone = [request.pk for request in ready] == [request_id]
        if alone:
            claimed = [issue_claim_locked(ready[0], None, excluded_role_ids=_excluded_role_ids(ready[0]))]
        elif ready:
            claimed = _claim_locked(ready)
    if not ready:
        # Held by another worker (or claimed since the read), with nothing else waiting: on its own.
        return [grant_issue(request_id=request_id, extends_id=None)]
    if alone:
        return [grant_issue_claimed(claimed[0])]
    issued, errors = _issue_claimed_many(claimed)
    if request_id in errors:
        raise errors[request_id]
    return issued


def grants_issue_many(*, request_ids: list[int]) -> tuple[list[AccessRequest], dict[int, Exception]]:
    """Issue the approved requests among `request_ids` (not extensions) step by step together.

    Return the requests made active, and the error of each attempt that failed (given back or failed).
    """
    return _issue_claimed_many(_claim_many(request_ids))


def _issue_claimed_many(claimed: list[AccessRequest]) -> tuple[list[AccessRequest], dict[int, Exception]]:
    """Go on with the requests a batch claimed: their tokens, their accessors, their credentials, then active."""
    errors: dict[int, Exception] = {}
    windows = {request.pk: issue_window(request) for request in claimed}
    metadata = {request.pk: token_metadata(request) for request in claimed}
    role_errors = _check_roles(claimed)
    # Once a creation goes unanswered, Vault may have stalled: it would carry out every creation sent to it
    # meanwhile when it resumes, and nothing would know those tokens. The creations not yet sent are not sent;
    # their requests are given back, and each is tried again on its own, its role checked first.
    unanswered = threading.Event()

    def create(request: AccessRequest) -> vault.GrantToken | vault.VaultError:
        role = request.role
        if (role.vault_mount, role.vault_role) in role_errors:
            return role_errors[(role.vault_mount, role.vault_role)]
        if unanswered.is_set():
            return vault.VaultNoAnswer("Vault did not answer another grant's token creation: this one was not sent.")
        with log_context(access_request=request.pk), vault.correlate(correlation(request)):
            try:
                return vault.create_grant_token(
                    mount=role.vault_mount,
                    role=role.vault_role,
                    ttl_seconds=windows[request.pk][1],
                    metadata=metadata[request.pk],
                    role_checked=True,
                )
            except vault.VaultNoAnswer as error:
                unanswered.set()
                return error
            except vault.VaultError as error:
                return error

    tokens = {}
    for request, token in zip(claimed, each_at_once(claimed, create, at_most=VAULT_PARALLEL), strict=True):
        if isinstance(token, vault.VaultError):
            issue_retreat(request, token)
            errors[request.pk] = token
        else:
            tokens[request.pk] = token
    with_tokens = [request for request in claimed if request.pk in tokens]
    stamps = _record_accessors(with_tokens, tokens)
    recorded = [request for request in with_tokens if request.pk in stamps]

    def read(request: AccessRequest) -> vault.WrappedCredentials | vault.VaultError:
        role = request.role
        with log_context(access_request=request.pk), vault.correlate(correlation(request)):
            try:
                return vault.read_wrapped_credentials(
                    token=tokens[request.pk].token,
                    mount=role.vault_mount,
                    role=role.vault_role,
                    wrap_ttl_seconds=windows[request.pk][1],
                )
            except vault.VaultError as error:
                return error

    read_ok = []
    wrapped = {}
    for request, result in zip(recorded, each_at_once(recorded, read, at_most=VAULT_PARALLEL), strict=True):
        if isinstance(result, vault.VaultError):
            issue_abandon_token(request, tokens[request.pk].accessor, stamps[request.pk], result)
            errors[request.pk] = result
        else:
            wrapped[request.pk] = result
            read_ok.append(request)
    issued = _activate_many(read_ok, tokens, stamps, wrapped, windows)
    return issued, errors


def _check_roles(requests: list[AccessRequest]) -> dict[tuple[str, str], vault.VaultError]:
    """Check each Vault role of the batch once (`vault.check_role`); return the error of each that failed."""
    roles = list(dict.fromkeys((request.role.vault_mount, request.role.vault_role) for request in requests))
    errors = {}
    for mount, role in roles:
        try:
            vault.check_role(mount=mount, role=role)
        except vault.VaultUnavailable as error:
            # Vault is not answering: the other roles' checks would wait as long, for the same answer.
            return {**errors, **{key: error for key in roles if key not in errors}}
        except vault.VaultError as error:
            errors[(mount, role)] = error
    return errors


def _claim_many(request_ids: list[int]) -> list[AccessRequest]:
    """Claim the requests among `request_ids` that may be issued (approved → issuing), in one transaction."""
    with transaction.atomic():
        return _claim_locked(_locked_to_claim(pk__in=request_ids))


def _locked_to_claim(*conditions: Q, **options) -> list[AccessRequest]:
    """Lock the approved requests (not extensions) to claim, skipping those another worker holds (they are
    its to issue); each is read with whether a review removed its requester from its role."""
    return locked_many(
        *conditions,
        state=State.APPROVED,
        extends=None,
        skip_locked=True,
        annotations={"requester_excluded": requester_excluded_by_review()},
        **options,
    )


def _excluded_role_ids(request: AccessRequest) -> set[int]:
    """Return the roles a review removed the requester of a request `_locked_to_claim` read from (its own, or none)."""
    return {request.role_id} if request.requester_excluded else set()


def _claim_locked(requests: list[AccessRequest]) -> list[AccessRequest]:
    """Claim those of the locked `requests` that may be issued; return them."""
    claimed = []
    # What each claim checks, read for all of them at once: the approvals (for the tokens' metadata too) and
    # the history's proof of each approval (the lock read whether a review removed each requester).
    load_approvals(requests)
    proven = audit_proven(requests=requests, action=AuditAction.REQUEST_APPROVED)
    for request in requests:
        try:
            request = issue_claim_locked(
                request,
                None,
                approval_proven=request.pk in proven,
                excluded_role_ids=_excluded_role_ids(request),
            )
        except InvalidTransition:
            # Not yet due (a later start): its own task or the sweeper issues it then.
            continue
        if request.state == State.ISSUING:
            claimed.append(request)
    return claimed


def _record_accessors(requests: list[AccessRequest], tokens: dict) -> dict[int, datetime]:
    """Commit each new token's accessor in one transaction; revoke the tokens of rows taken over meanwhile."""
    stamp = clock.now()
    with transaction.atomic():
        stamps = {
            request.pk: stamp
            for request in requests
            if AccessRequest.objects.filter(pk=request.pk, state=State.ISSUING, vault_token_accessor="").update(
                vault_token_accessor=tokens[request.pk].accessor, updated_at=stamp
            )
        }
    for request in requests:
        if request.pk not in stamps:
            # Revoked or recovered meanwhile: the token must not outlive this attempt.
            vault.revoke_grant_token(accessor=tokens[request.pk].accessor)
    return stamps


def _activate_many(requests, tokens, stamps, wrapped, windows) -> list[AccessRequest]:
    """Make the requests active in one transaction, an audit event each; revoke the tokens of those taken over."""
    with transaction.atomic():
        issued = [
            request
            for request in requests
            if issue_activate(
                request,
                accessor=tokens[request.pk].accessor,
                stamp=stamps[request.pk],
                wrapped=wrapped[request.pk],
                ends_at=windows[request.pk][0],
            )
        ]
        audit_record_many([issued_event(request, windows[request.pk][0]) for request in issued])
        for request in issued:
            issued_after(request, windows[request.pk][0])
    for request in requests:
        if request not in issued:
            vault.revoke_grant_token(accessor=tokens[request.pk].accessor)
    return issued
