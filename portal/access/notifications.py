"""What each workflow event tells whom: subject, text and recipients, with links and never a secret.

People's text (names, role names, justifications) goes into Slack and Teams messages escaped, so
that nobody can mention `@channel`, a person, or a link that reads as another one.
"""

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from portal.access.models import AccessRequest, NotificationEvent
from portal.access.selectors import approver_emails, portal_admin_emails

Event = NotificationEvent


@dataclass(frozen=True)
class Message:
    to: list[str]
    subject: str
    body: str

    def __post_init__(self):
        # A line break in a name would make the mail library refuse the subject, and the mail be lost.
        object.__setattr__(self, "subject", " ".join(self.subject.split()))


def plain(text: str) -> str:
    """Return `text` as it is: e-mail is plain text."""
    return text


def slack_escape(text: str) -> str:
    """Return `text` with Slack's three control characters escaped: no `<!channel>`, `<@U…>` or `<url|label>`."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Markdown's link, emphasis and heading characters, and the backslash that escapes them.
_TEAMS_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def teams_escape(text: str) -> str:
    """Return `text` inert in a Teams message: HTML escaped and Markdown's punctuation backslash-escaped."""
    return _TEAMS_MARKDOWN.sub(r"\\\1", html.escape(text, quote=False))


ESCAPES: dict[str, Callable[[str], str]] = {"slack": slack_escape, "teams": teams_escape}


def _link(request: AccessRequest) -> str:
    return settings.PORTAL_BASE_URL + reverse("access:request-detail", args=[request.pk])


def _requester_email(request: AccessRequest) -> list[str]:
    profile = getattr(request.requester, "profile", None)
    email = (profile.email if profile else "") or request.requester.email
    return [email] if email else []


def _when(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "its end"


def message_for(request: AccessRequest, event: str, *, escape: Callable[[str], str] = plain) -> Message:
    """Return the message that tells the right people about `event` on `request` (people's text through `escape`)."""
    role = escape(request.role.name)
    who = escape(request.requester_label)
    kind = "extension" if request.extends_id else "request"
    link = _link(request)
    event = Event(event)
    if event == Event.CREATED:
        return Message(
            # Never the requester: nobody is asked to approve their own request.
            to=approver_emails(request.role, excluding=request.requester),
            subject=f"[Latchkey] {who} asks for {role}",
            body=(
                f"{who} asks for {role} for {request.duration_minutes} minutes ({kind} #{request.pk}).\n\n"
                f"Justification:\n{escape(request.justification)}\n\nDecide it (after sign-in): {link}#decide\n"
            ),
        )
    if event == Event.COMPROMISED:
        text = (
            f"The credentials of {kind} #{request.pk} for {role} ({who}) were taken out of Vault before the "
            "holder revealed them; the grant was revoked."
        )
        to = sorted(set(_requester_email(request)) | set(portal_admin_emails()))
        return Message(to=to, subject=f"[Latchkey] {text}", body=f"{text}\n\nDetails: {link}\n")
    texts = {
        Event.APPROVED: f"Your {kind} #{request.pk} for {role} was approved.",
        Event.DENIED: f"Your {kind} #{request.pk} for {role} was denied.",
        Event.EXPIRED: f"Your {kind} #{request.pk} for {role} expired before anyone reviewed it.",
        Event.ISSUED: f"Your access to {role} (#{request.pk}) is ready; reveal the credentials in the portal.",
        Event.ENDING_SOON: f"Your access to {role} (#{request.pk}) ends at {_when(request.ends_at)}.",
        Event.REVOKED: f"Your access to {role} (#{request.pk}) was revoked.",
        Event.FAILED: (
            f"Your {kind} #{request.pk} for {role} could not be issued: {request.last_error or 'see the portal'}"
        ),
        Event.ENDED: f"Your access to {role} (#{request.pk}) has ended.",
    }
    text = texts[event]
    return Message(to=_requester_email(request), subject=f"[Latchkey] {text}", body=f"{text}\n\nDetails: {link}\n")
