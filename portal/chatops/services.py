"""Decisions from Slack: verify the signed request, map the Slack member to a person, run the page's decision.

Slack signs every interactivity request with the app's signing secret: `X-Slack-Signature` is
`v0=` + HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{raw body}`. A request signed too long
ago, or whose signature was already taken once, is refused. The decision itself is
`request_approve` or `request_deny`, exactly as on the page, with the same rules.
"""

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from urllib.parse import parse_qs

from django.conf import settings
from django.db import IntegrityError, transaction

from portal.access import services as access_services
from portal.access.models import AccessRequest
from portal.accounts.selectors import profiles_with_upn
from portal.chatops import blocks
from portal.chatops.models import SlackInteraction
from portal.core import queue
from portal.core.clock import now
from portal.core.errors import DomainError, InvalidInput, NotFound
from portal.integrations import slack

log = logging.getLogger(__name__)
Outcome = SlackInteraction.Outcome


class SlackRequestRefused(DomainError):
    """The request does not come from Slack, or was already taken once."""

    code = "invalid_signature"
    status = 401


@dataclass(frozen=True)
class Click:
    slack_user_id: str
    action: str
    request_id: int
    comment: str
    response_url: str
    channel_id: str
    message_ts: str


def slack_signature_check(*, body: bytes, timestamp: str | None, signature: str | None) -> str:
    """Check that Slack signed `body` recently; return the signature's hash (the key against replays)."""
    secret = settings.SLACK_SIGNING_SECRET
    if not secret:
        raise NotFound("Slack decisions are not set up (SLACK_SIGNING_SECRET).")
    if not timestamp or not timestamp.strip().isdigit() or not signature:
        raise SlackRequestRefused("The request is not signed by Slack.")
    # An old signature may have been captured on the way: refuse it whatever it signs.
    if abs(now().timestamp() - int(timestamp)) > settings.SLACK_SIGNATURE_MAX_AGE_SECONDS:
        raise SlackRequestRefused("The request's signature is too old.")
    base = b"v0:" + timestamp.strip().encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SlackRequestRefused("The request's signature does not match.")
    return hashlib.sha256(signature.strip().encode()).hexdigest()


def _click(body: bytes) -> Click | None:
    """Return the Approve or Deny click in an interactivity payload (None for anything else)."""
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, ValueError) as error:
        raise InvalidInput("The body is not a Slack interactivity payload.") from error
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = [
        action
        for action in payload.get("actions") or []
        if isinstance(action, dict) and action.get("action_id") in (blocks.APPROVE, blocks.DENY)
    ]
    if not actions or not str(actions[0].get("value", "")).isdigit():
        return None
    values = ((payload.get("state") or {}).get("values") or {}).get(blocks.COMMENT_BLOCK) or {}
    comment = ((values.get(blocks.COMMENT_ACTION) or {}).get("value")) or ""
    container = payload.get("container") or {}
    return Click(
        slack_user_id=str((payload.get("user") or {}).get("id", "")),
        action="approve" if actions[0]["action_id"] == blocks.APPROVE else "deny",
        request_id=int(actions[0]["value"]),
        comment=str(comment).strip(),
        response_url=str(payload.get("response_url") or ""),
        channel_id=str(container.get("channel_id") or (payload.get("channel") or {}).get("id") or ""),
        message_ts=str(container.get("message_ts") or ""),
    )


def _person(slack_user_id: str):
    """Return the portal person whose UPN is the Slack member's e-mail address; refuse anything but one match."""
    email = slack.user_email(slack_user_id) if slack_user_id else ""
    if not email:
        raise NotFound("Slack has no e-mail address for you, so Latchkey cannot tell who you are.")
    matches = profiles_with_upn(email, is_application=False, user__is_active=True)
    if len(matches) != 1:
        raise NotFound(f"No single Latchkey person has the UPN {email}; decide in the portal instead.")
    return matches[0].user


def slack_interaction_handle(
    *, body: bytes, timestamp: str | None, signature: str | None, http_request=None
) -> SlackInteraction | None:
    """Take one signed Slack click: decide the request as its clicker, and queue the answer to Slack."""
    signature_hash = slack_signature_check(body=body, timestamp=timestamp, signature=signature)
    click = _click(body)
    if click is None:
        return None
    try:
        with transaction.atomic():
            interaction = SlackInteraction.objects.create(
                signature_hash=signature_hash,
                slack_user_id=click.slack_user_id,
                action=click.action,
                outcome=Outcome.REFUSED,
                channel_id=click.channel_id,
                message_ts=click.message_ts,
                response_url=click.response_url,
            )
    except IntegrityError:
        raise SlackRequestRefused("This signed request was already taken once.") from None
    try:
        actor = _person(click.slack_user_id)
        interaction.actor = actor
        if click.action == "approve":
            access_services.request_approve(
                actor=actor, request_id=click.request_id, comment=click.comment, http_request=http_request
            )
            interaction.outcome = Outcome.APPROVED
        else:
            access_services.request_deny(
                actor=actor, request_id=click.request_id, comment=click.comment, http_request=http_request
            )
            interaction.outcome = Outcome.DENIED
    except DomainError as error:
        texts = [text for texts in getattr(error, "fields", {}).values() for text in texts]
        interaction.detail = " ".join([error.detail, *texts])[:500]
    except slack.SlackError as error:
        log.warning("Could not read a Slack member's profile: %s", error)
        interaction.detail = "Latchkey could not read your Slack profile; try again, or decide in the portal."
    if AccessRequest.objects.filter(pk=click.request_id).exists():
        interaction.request_id = click.request_id
    with transaction.atomic():
        interaction.save(update_fields=["actor", "outcome", "detail", "request"])
        interaction_id = interaction.pk
        transaction.on_commit(lambda: _enqueue_answer(interaction_id))
    return interaction


def _enqueue_answer(interaction_id: int) -> None:
    queue.send("portal.chatops.tasks.answer_slack_interaction", interaction_id)


def slack_interaction_answer(*, interaction_id: int) -> None:
    """Show the outcome in Slack: the message updated for everyone, or a refusal for the clicker alone."""
    interaction = SlackInteraction.objects.select_related("request__role", "request__requester__profile").get(
        pk=interaction_id
    )
    if interaction.answered_at is not None:
        return
    if interaction.outcome == Outcome.REFUSED:
        if interaction.response_url:
            slack.respond(
                response_url=interaction.response_url.unseal(),
                text=f"Latchkey did not record your decision: {interaction.detail}",
                replace=False,
            )
    else:
        request = interaction.request
        text, request_blocks = blocks.request_text(request), blocks.request_blocks(request)
        updated = False
        if settings.SLACK_BOT_TOKEN and interaction.channel_id and interaction.message_ts:
            try:
                slack.update_message(
                    channel=interaction.channel_id, ts=interaction.message_ts, text=text, blocks=request_blocks
                )
                updated = True
            except slack.SlackRefused as error:
                # For example a message the bot may not edit: the response URL still can.
                log.info("chat.update refused (%s); answering through the response URL", error)
        if not updated and interaction.response_url:
            slack.respond(
                response_url=interaction.response_url.unseal(), text=text, blocks=request_blocks, replace=True
            )
    SlackInteraction.objects.filter(pk=interaction.pk, answered_at__isnull=True).update(
        answered_at=now(), response_url=""
    )
