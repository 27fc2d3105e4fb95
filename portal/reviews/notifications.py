"""What the reviewers hear: a campaign has started, or is due soon; a link, never a secret."""

from django.conf import settings
from django.urls import reverse

from portal.access.notifications import Message
from portal.reviews import selectors
from portal.reviews.models import EVENT_DUE_SOON, EVENT_STARTED, NOTIFICATION_EVENTS, Campaign


def message_for(campaign: Campaign, event: str) -> Message:
    """Return the message that tells the campaign's reviewers about `event`."""
    if event not in NOTIFICATION_EVENTS:
        raise ValueError(f"Unknown review notification event {event!r}.")
    link = settings.PORTAL_BASE_URL + reverse("reviews:campaign-detail", args=[campaign.pk])
    progress = selectors.progress_of(campaign)
    due = f"{campaign.due_at:%Y-%m-%d %H:%M} UTC"
    outcome = "removed" if campaign.when_overdue == "remove" else "kept"
    subject, lead = {
        EVENT_STARTED: (
            f"[Latchkey] Access review of {campaign.scope_label}: {progress.total} people, due {due}",
            f"An access review of {campaign.scope_label} has started (review #{campaign.pk}).",
        ),
        EVENT_DUE_SOON: (
            f"[Latchkey] Access review of {campaign.scope_label} is due {due}: {progress.pending} left",
            f"The access review of {campaign.scope_label} (review #{campaign.pk}) is due soon.",
        ),
    }[event]
    body = (
        f"{lead}\n\nFor each person eligible for the role, decide: keep, or remove with a reason.\n"
        f"{progress.pending} of {progress.total} are still to decide. Anyone not decided by {due} is {outcome}.\n\n"
        f"Review them: {link}\n"
    )
    return Message(to=selectors.reviewer_emails(campaign), subject=subject, body=body)
