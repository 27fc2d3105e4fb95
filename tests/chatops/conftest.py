"""Slack decisions: a local Slack, the Slack app's settings, and clicks signed as Slack signs them."""

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest

from tests.support.slack import BOT_TOKEN, start_fake_slack

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_IDS = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL", "dave": "U0DAVE", "erin": "U0ERIN"}


@pytest.fixture
def slack(settings):
    """Run the local Slack and point the portal's Slack app settings at it."""
    fake, server = start_fake_slack()
    fake.members = {slack_id: f"{name}@contoso.example" for name, slack_id in SLACK_IDS.items()}
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
    settings.SLACK_BOT_TOKEN = BOT_TOKEN
    settings.SLACK_API_BASE_URL = f"{fake.base_url}/api"
    settings.NOTIFY_SLACK_WEBHOOK_URL = f"{fake.base_url}/hook"
    yield fake
    server.shutdown()


@pytest.fixture
def teams(settings):
    """Run a local Teams channel (an incoming webhook) and point the portal's Teams webhook at it."""
    # Teams incoming webhooks take the same {"text": ...} body as Slack's; the local server records it.
    fake, server = start_fake_slack()
    settings.NOTIFY_TEAMS_WEBHOOK_URL = f"{fake.base_url}/hook"
    yield fake
    server.shutdown()


def click_body(slack, *, who: str, action: str, request_id: int, comment: str | None = None) -> bytes:
    """Return the form body Slack posts when `who` presses Approve or Deny on the request's message."""
    payload = {
        "type": "block_actions",
        "user": {"id": SLACK_IDS.get(who, who), "username": who, "team_id": "T0CONTOSO"},
        "team": {"id": "T0CONTOSO", "domain": "contoso"},
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0APPROVERS"},
        "channel": {"id": "C0APPROVERS", "name": "access-approvals"},
        # Each click is a new interaction: Slack gives it its own trigger and action time.
        "trigger_id": f"{time.time_ns()}.456.abc",
        "response_url": slack.response_url(f"{who}-{request_id}"),
        "actions": [
            {
                "type": "button",
                "action_id": f"latchkey_{action}",
                "block_id": f"latchkey_decide_{request_id}",
                "value": str(request_id),
                "action_ts": f"{time.time():.6f}",
            }
        ],
        "state": {"values": {"latchkey_comment": {"comment": {"type": "plain_text_input", "value": comment}}}},
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed_headers(body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict:
    """Return the headers with which Slack signs `body`: v0 HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": stamp, "HTTP_X_SLACK_SIGNATURE": f"v0={digest}"}


def post_click(client, body: bytes, headers: dict):
    return client.post("/slack/interactivity", data=body, content_type="application/x-www-form-urlencoded", **headers)
