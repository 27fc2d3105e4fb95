"""What each workflow event tells whom: subject, text and recipients, with links and never a secret."""

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from portal.access.models import AccessRequest
from portal.access.selectors import approver_emails
from portal.integrations.notify import webhook_urls

# Events that the requester hears about; "created" goes to the approvers instead.
EVENTS = ("created", "approved", "denied", "expired", "issued", "ending_soon", "revoked", "failed", "ended")


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
    if event == "created":
        return Message(
            to=approver_emails(request.role),
            subject=f"[Latchkey] {who} asks for {role}",
            body=(
                f"{who} asks for {role} for {request.duration_minutes} minutes ({kind} #{request.pk}).\n\n"
                f"Justification:\n{request.justification}\n\nDecide it (after sign-in): {link}#decide\n"
            ),
        )
    texts = {
        "approved": f"Your {kind} #{request.pk} for {role} was approved.",
        "denied": f"Your {kind} #{request.pk} for {role} was denied.",
        "expired": f"Your {kind} #{request.pk} for {role} expired before anyone reviewed it.",
        "issued": f"Your access to {role} (#{request.pk}) is ready; reveal the credentials in the portal.",
        "ending_soon": f"Your access to {role} (#{request.pk}) ends at {_when(request.ends_at)}.",
        "revoked": f"Your access to {role} (#{request.pk}) was revoked.",
        "failed": f"Your {kind} #{request.pk} for {role} could not be issued: {request.last_error or 'see the portal'}",
        "ended": f"Your access to {role} (#{request.pk}) has ended.",
    }
    text = texts[event]
    return Message(to=_requester_email(request), subject=f"[Latchkey] {text}", body=f"{text}\n\nDetails: {link}\n")


def enqueue(*, request_id: int, event: str) -> None:
    """Queue the e-mail and webhook tasks for `event` (call it on commit: tasks carry IDs only)."""
    from portal.access import tasks

    if event not in EVENTS:
        raise ValueError(f"Unknown notification event {event!r}.")
    tasks.notify_email.delay(request_id, event)
    for channel in webhook_urls():
        tasks.notify_webhook.delay(request_id, event, channel)
