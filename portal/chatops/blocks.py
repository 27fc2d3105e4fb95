"""The Slack message of a request: what is asked, the approvals so far, and Approve/Deny buttons while pending."""

from django.conf import settings
from django.urls import reverse

from portal.access.models import AccessRequest

APPROVE = "latchkey_approve"
DENY = "latchkey_deny"
COMMENT_BLOCK = "latchkey_comment"
COMMENT_ACTION = "comment"


def escape(text: str) -> str:
    """Escape what Slack's mrkdwn reads as markup (links, mentions), so user text stays text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}


def request_text(request: AccessRequest) -> str:
    """Return the plain-text summary of the request (Slack's notification and fallback text)."""
    kind = "extension" if request.extends_id else "request"
    return (
        f"{request.requester_label} asks for {request.role.name} for {request.duration_minutes} minutes "
        f"({kind} #{request.pk}): {request.state}."
    )


def request_blocks(request: AccessRequest) -> list[dict]:
    """Return the Block Kit blocks of the request's message, with the decision buttons while it is pending."""
    link = settings.PORTAL_BASE_URL + reverse("access:request-detail", args=[request.pk])
    kind = "extension" if request.extends_id else "request"
    blocks = [
        {
            "type": "section",
            "text": _mrkdwn(
                f"*{escape(request.requester_label)}* asks for *{escape(request.role.name)}* for "
                f"{request.duration_minutes} minutes ({kind} <{link}|#{request.pk}>)."
            ),
        },
        {"type": "section", "text": _mrkdwn(f"*Justification*\n{escape(request.justification)}")},
    ]
    decided = request.approval_list
    decisions = [
        f"{'approved' if item.decision == 'approve' else 'denied'} by {escape(item.approver_label)}"
        + (f": {escape(item.comment)}" if item.comment else "")
        for item in decided
    ]
    approvals = sum(1 for item in decided if item.decision == "approve")
    status = f"*{request.state.capitalize()}*"
    if request.state == AccessRequest.State.PENDING:
        status += f": {approvals} of {request.role.approvals_required} approvals"
    blocks.append({"type": "context", "elements": [_mrkdwn("; ".join([status, *decisions]))]})
    if request.state == AccessRequest.State.PENDING:
        blocks += [
            {
                "type": "input",
                "block_id": COMMENT_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "Comment (required to deny)"},
                "element": {"type": "plain_text_input", "action_id": COMMENT_ACTION, "max_length": 2000},
            },
            {
                "type": "actions",
                "block_id": f"latchkey_decide_{request.pk}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": APPROVE,
                        "style": "primary",
                        "text": {"type": "plain_text", "text": "Approve"},
                        "value": str(request.pk),
                    },
                    {
                        "type": "button",
                        "action_id": DENY,
                        "style": "danger",
                        "text": {"type": "plain_text", "text": "Deny"},
                        "value": str(request.pk),
                    },
                ],
            },
        ]
    return blocks


def webhook_blocks(request: AccessRequest, event: str) -> list[dict] | None:
    """Return the blocks of the Slack message for `event`: decision buttons for approvers, when Slack can call back."""
    if event != "created" or not settings.SLACK_SIGNING_SECRET:
        return None
    return request_blocks(request)
