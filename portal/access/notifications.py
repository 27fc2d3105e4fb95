"""What each workflow event tells whom: subject, text and recipients, with links and never a secret."""

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from portal.access.models import AccessRequest, NotificationEvent
from portal.access.selectors import approver_emails

Event = NotificationEvent


@dataclass(frozen=True)
class Message:
    to: list[str]
    subject: str
    body: str

    def __post_init__(self):
        # A line break in a name would make the mail library refuse the subject, and the mail be lost.
        object.__setattr__(self, "subject", " ".join(self.subject.split()))


def _link(request: AccessRequest) -> str:
    return settings.PORTAL_BASE_URL + reverse("access:request-detail", args=[request.pk])


def _requester_email(request: AccessRequest) -> list[str]:
    profile = getattr(request.requester, "profile", None)
    email = (profile.email if profile else "") or request.requester.email
    return [email] if email else []


def _when(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "its end"


def message_for(request: AccessRequest, event: str) -> Message:
    """Return the message that tells the right people about `event` on `request`."""
    role = request.role.name
    who = request.requester_label
    kind = "extension" if request.extends_id else "request"
    link = _link(request)
    if event == Event.CREATED:
        return Message(
            to=approver_emails(request.role),
            subject=f"[Latchkey] {who} asks for {role}",
            body=(
                f"{who} asks for {role} for {request.duration_minutes} minutes ({kind} #{request.pk}).\n\n"
                f"Justification:\n{request.justification}\n\nReview it: {link}\n"
            ),
        )
    texts = {
        Event.APPROVED: f"Your {kind} #{request.pk} for {role} was approved.",
        Event.DENIED: f"Your {kind} #{request.pk} for {role} was denied.",
        Event.EXPIRED: f"Your {kind} #{request.pk} for {role} expired before anyone reviewed it.",
        Event.ISSUED: f"Your access to {role} (#{request.pk}) is ready; reveal the credentials in the portal.",
        Event.ENDING_SOON: f"Your access to {role} (#{request.pk}) ends at {_when(request.ends_at)}.",
        Event.REVOKED: f"Your access to {role} (#{request.pk}) was revoked.",
    }
    text = texts[Event(event)]
    return Message(to=_requester_email(request), subject=f"[Latchkey] {text}", body=f"{text}\n\nDetails: {link}\n")
