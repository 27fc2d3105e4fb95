"""The one module that talks to Slack's Web API: read a member's e-mail, update a message after a decision.

Calls carry the bot token (`SLACK_BOT_TOKEN`) in the Authorization header, never in a URL or a log line.
Failures become `SlackUnavailable` (try again later) or `SlackRefused` (Slack said no: do not retry).
"""

import logging

import requests
from django.conf import settings

log = logging.getLogger(__name__)


class SlackError(Exception):
    """Slack did not do what was asked."""


class SlackUnavailable(SlackError):
    """Slack could not be reached or answered with a server error; try again later."""


class SlackRefused(SlackError):
    """Slack answered `ok: false` (for example `user_not_found`, `missing_scope`)."""


def _timeout() -> float:
    return settings.NOTIFY_TIMEOUT_SECONDS


def _call(method: str, *, http_method: str = "POST", params: dict | None = None, body: dict | None = None) -> dict:
    token = settings.SLACK_BOT_TOKEN
    if not token:
        raise SlackRefused("SLACK_BOT_TOKEN is not set.")
    url = f"{settings.SLACK_API_BASE_URL}/{method}"
    try:
        response = requests.request(
            http_method,
            url,
            params=params,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=_timeout(),
        )
    except requests.RequestException as error:
        raise SlackUnavailable(f"Slack's {method} is unreachable: {error.__class__.__name__}.") from error
    if response.status_code == 429 or response.status_code >= 500:
        raise SlackUnavailable(f"Slack's {method} answered {response.status_code}.")
    try:
        answer = response.json()
    except ValueError:
        raise SlackUnavailable(f"Slack's {method} answered {response.status_code} without JSON.") from None
    if not answer.get("ok"):
        raise SlackRefused(f"Slack's {method} refused: {answer.get('error', 'unknown_error')}.")
    return answer


def user_email(user_id: str) -> str:
    """Return the e-mail address of the Slack member `user_id` ("" if Slack has none for them)."""
    answer = _call("users.info", http_method="GET", params={"user": user_id})
    user = answer.get("user") or {}
    if user.get("deleted"):
        return ""
    return ((user.get("profile") or {}).get("email") or "").strip()


def update_message(*, channel: str, ts: str, text: str, blocks: list[dict]) -> None:
    """Replace the message `ts` in `channel` with `text` and `blocks` (chat.update)."""
    _call("chat.update", body={"channel": channel, "ts": ts, "text": text, "blocks": blocks})


def respond(*, response_url: str, text: str, blocks: list[dict] | None = None, replace: bool) -> None:
    """Answer an interaction through its response URL: replace the message, or tell the clicker alone."""
    body: dict = {"text": text, "replace_original": replace}
    if blocks is not None:
        body["blocks"] = blocks
    if not replace:
        body["response_type"] = "ephemeral"
    try:
        response = requests.post(response_url, json=body, timeout=_timeout())
    except requests.RequestException as error:
        # The response URL is a credential of its own: never name it.
        raise SlackUnavailable(f"Slack's response URL is unreachable: {error.__class__.__name__}.") from error
    if response.status_code == 429 or response.status_code >= 500:
        raise SlackUnavailable(f"Slack's response URL answered {response.status_code}.")
    if response.status_code >= 300:
        raise SlackRefused(f"Slack's response URL answered {response.status_code}.")
    log.info("Answered a Slack interaction")
