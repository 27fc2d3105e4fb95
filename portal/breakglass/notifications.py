"""What break-glass tells whom: every activation goes to the admins and the role's approvers on every channel."""

from django.conf import settings
from django.urls import reverse

from portal.access.notifications import Message
from portal.access.selectors import approver_emails, portal_admin_emails
from portal.breakglass.models import BreakGlassUse

EVENTS = ("activated", "flagged", "escalated")


def _when(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def message_for(use: BreakGlassUse, event: str) -> Message:
    """Return the message that tells the admins (and for an activation the approvers) about `event`."""
    request = use.request
    role = use.role.name
    who = request.requester_label
    request_link = settings.PORTAL_BASE_URL + reverse("access:request-detail", args=[request.pk])
    review_link = settings.PORTAL_BASE_URL + reverse("breakglass:review-queue")
    admins = portal_admin_emails()
    if event == "activated":
        return Message(
            to=sorted(set(admins) | set(approver_emails(use.role))),
            subject=f"[Latchkey] BREAK-GLASS: {who} activated {role} (incident {use.incident})",
            body=(
                f"BREAK-GLASS: {who} activated {role} without approval for {request.duration_minutes} minutes "
                f"(request #{request.pk}, incident {use.incident}).\n\n"
                f"Justification:\n{request.justification}\n\n"
                f"Approvers of {role}: review this use by {_when(use.review_due_at)} — confirm it, or flag it "
                f"as misuse to revoke the grant: {review_link}\n"
                f"The grant: {request_link}\n"
            ),
        )
    if event == "flagged":
        return Message(
            to=admins,
            subject=f"[Latchkey] Break-glass misuse flagged: {who} on {role} (incident {use.incident})",
            body=(
                f"{use.reviewer_label} flagged the break-glass use of {role} by {who} (request #{request.pk}, "
                f"incident {use.incident}) as misuse; its grant is revoked if it was still open.\n\n"
                f"Comment:\n{use.review_comment}\n\nThe grant: {request_link}\n"
            ),
        )
    if event == "escalated":
        return Message(
            to=admins,
            subject=f"[Latchkey] Break-glass use not reviewed in time: {who} on {role}",
            body=(
                f"Nobody reviewed the break-glass use of {role} by {who} (request #{request.pk}, "
                f"incident {use.incident}) by {_when(use.review_due_at)}. Review it: {review_link}\n"
                f"The grant: {request_link}\n"
            ),
        )
    raise ValueError(f"Unknown break-glass event {event!r}.")
