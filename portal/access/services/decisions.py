"""Deciding a pending request: approvals (enough of them approve it), a denial, and applying an approved extension."""

from datetime import timedelta

from django.db import transaction

from portal.access import policy
from portal.access.models import AccessRequest, Approval, AuditAction, NotificationEvent, person_label
from portal.access.services.cleaning import clean_note
from portal.access.services.kernel import (
    UNREAD,
    locked,
    locked_with_grant,
    notify,
    queue,
    record,
    record_many,
    transition,
)
from portal.core import clock
from portal.core.errors import InvalidInput, InvalidTransition, NotAllowed

State = AccessRequest.State


def queue_issue(request: AccessRequest) -> None:
    """Queue the issuing of an approved request; one that starts later is issued by the sweeper when due."""
    if request.requested_starts_at is None or request.requested_starts_at <= clock.now():
        queue("issue_grant", request.pk)


def request_approve(
    *,
    actor,
    request_id: int,
    comment: str = "",
    duration_minutes: int | None = None,
    extends_id=UNREAD,
    http_request=None,
) -> AccessRequest:
    """Record the approval of `actor`; with enough distinct approvals the request is approved.

    A caller that has just read which grant the request extends passes it (`extends_id`, as `locked_with_grant`).
    """
    requester_left = False
    with transaction.atomic():
        # An extension's grant too, first: approving an extension moves the grant's end.
        request, _ = locked_with_grant(request_id, extends_id=extends_id)
        policy.check_decide(actor, request, verb="approve")
        # An approver may shorten the duration, never lengthen it
        if duration_minutes is not None and not 1 <= duration_minutes <= request.duration_minutes:
            raise InvalidInput(
                "An approver may shorten the duration, not lengthen it.",
                fields={"duration_minutes": [f"Between 1 and {request.duration_minutes} minutes."]},
            )
        # A requester who has left the eligible groups gets nothing
        if not policy.eligibility(request.role, request.requester):
            transition(request, source=State.PENDING, target=State.DENIED, decided_at=clock.now())
            record(
                actor=None,
                action=AuditAction.REQUEST_DENIED,
                request=request,
                details={"reason": "requester_not_eligible", "noticed_by": person_label(actor)},
            )
            notify(request, NotificationEvent.DENIED)
            requester_left = True
        else:
            _record_approval(
                request, actor=actor, comment=comment, duration_minutes=duration_minutes, http=http_request
            )
    if requester_left:
        raise NotAllowed("The requester is no longer eligible for this role; the request was closed.")
    return request


def _record_approval(request: AccessRequest, *, actor, comment: str, duration_minutes: int | None, http) -> None:
    approval = Approval.objects.create(
        request=request,
        approver=actor,
        decision=Approval.Decision.APPROVE,
        comment=comment.strip(),
        created_at=clock.now(),
    )
    # The request's approvals were read under its lock (`check_decide`): with this one, they are all of them.
    request.approval_list.append(approval)
    changes = {}
    if duration_minutes is not None and duration_minutes != request.duration_minutes:
        changes["duration_minutes"] = duration_minutes
        AccessRequest.objects.filter(pk=request.pk).update(duration_minutes=duration_minutes, updated_at=clock.now())
        request.duration_minutes = duration_minutes
    approvals = sum(approval.decision == Approval.Decision.APPROVE for approval in request.approval_list)
    approved = approvals >= request.role.approvals_required
    if approved:
        # Before the events: the audit chain's lock, taken by the first event, is held until the commit.
        transition(request, source=State.PENDING, target=State.APPROVED, decided_at=clock.now())
    approval = {
        "actor": actor,
        "action": AuditAction.REQUEST_APPROVAL,
        "request": request,
        "details": {"comment": comment.strip(), "approvals": approvals, "required": request.role.approvals_required}
        | changes,
        "http_request": http,
    }
    if not approved:
        record(**approval)
        return
    record_many(
        approval,
        {
            "actor": actor,
            "action": AuditAction.REQUEST_APPROVED,
            "request": request,
            "details": {"approvals": approvals},
        },
    )
    if request.extends_id is not None:
        extension_apply(request)
    else:
        notify(request, NotificationEvent.APPROVED)
        queue_issue(request)


def request_deny(*, actor, request_id: int, comment: str, http_request=None) -> AccessRequest:
    """Deny a pending request: one denial ends it."""
    with transaction.atomic():
        request = locked(request_id)
        policy.check_decide(actor, request, verb="deny")
        # The requester deserves a reason
        comment = clean_note(
            comment, field="comment", missing=("Say why you deny the request.", "A comment is required to deny.")
        )
        denial = Approval.objects.create(
            request=request, approver=actor, decision=Approval.Decision.DENY, comment=comment, created_at=clock.now()
        )
        request.approval_list.append(denial)
        transition(request, source=State.PENDING, target=State.DENIED, decided_at=clock.now())
        record(
            actor=actor,
            action=AuditAction.REQUEST_DENIED,
            request=request,
            details={"comment": comment},
            http_request=http_request,
        )
        notify(request, NotificationEvent.DENIED)
    return request


def extension_apply(extension: AccessRequest) -> None:
    """Move the grant's end by the approved extension (the Vault side follows the new end)."""
    grant = locked(extension.extends_id)
    # Only a grant that is still active can be extended
    if grant.state != State.ACTIVE or grant.ends_at is None:
        raise InvalidTransition(f"Grant #{grant.pk} is {grant.state}; it can no longer be extended.")
    old_end = grant.ends_at
    # Never past the role's maximum over the whole grant (the role may have been shortened since the ask)
    new_end = min(
        old_end + timedelta(minutes=extension.duration_minutes),
        grant.starts_at + timedelta(minutes=grant.role.max_duration_minutes),
    )
    if new_end <= old_end:
        raise InvalidTransition(f"Grant #{grant.pk} already runs for the longest {grant.role.name} allows.")
    transition(grant, source=State.ACTIVE, target=State.ACTIVE, ends_at=new_end, ending_notice_sent_at=None)
    AccessRequest.objects.filter(pk=extension.pk).update(starts_at=old_end, ends_at=new_end)
    extension.starts_at, extension.ends_at = old_end, new_end
    record(
        actor=None,
        action=AuditAction.GRANT_EXTENDED,
        request=grant,
        details={"extension": extension.pk, "old_ends_at": old_end.isoformat(), "new_ends_at": new_end.isoformat()},
    )
    notify(extension, NotificationEvent.APPROVED)
    # The grant token ends at the old end: the extension gets a token of its own for the new window.
    queue_issue(extension)
