"""A small local server that answers as Slack's documented Web API does, for the Slack decision tests.

`GET /api/users.info?user=...` and `POST /api/chat.update` take the bot token as `Authorization: Bearer`
and answer HTTP 200 with `{"ok": true, ...}` or `{"ok": false, "error": ...}`; a response URL
(`POST /response/...`) answers 200; the incoming webhook (`POST /hook`) takes the approvers' message.
"""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BOT_TOKEN = "xoxb-test-bot-token"


@dataclass
class FakeSlack:
    base_url: str = ""
    # Slack member ID -> e-mail address in their profile.
    members: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, dict]] = field(default_factory=list)
    webhook: list[dict] = field(default_factory=list)
    responses: list[dict] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)
    update_error: str = ""

    def response_url(self, name: str = "1") -> str:
        return f"{self.base_url}/response/{name}"


def _handler(slack: FakeSlack):
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            return self.headers.get("Authorization") == f"Bearer {BOT_TOKEN}"

        def _body(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def do_GET(self):
            parts = urlsplit(self.path)
            if parts.path != "/api/users.info":
                return self._answer(404, {"ok": False, "error": "unknown_method"})
            user = parse_qs(parts.query).get("user", [""])[0]
            slack.calls.append(("users.info", {"user": user}))
            if not self._authorized():
                return self._answer(200, {"ok": False, "error": "invalid_auth"})
            if user not in slack.members:
                return self._answer(200, {"ok": False, "error": "user_not_found"})
            profile = {"real_name": user, "display_name": user}
            if slack.members[user]:
                profile["email"] = slack.members[user]
            return self._answer(200, {"ok": True, "user": {"id": user, "deleted": False, "profile": profile}})

        def do_POST(self):
            path = urlsplit(self.path).path
            body = self._body()
            if path == "/api/chat.update":
                slack.calls.append(("chat.update", body))
                if not self._authorized():
                    return self._answer(200, {"ok": False, "error": "invalid_auth"})
                if slack.update_error:
                    return self._answer(200, {"ok": False, "error": slack.update_error})
                slack.updates.append(body)
                return self._answer(
                    200, {"ok": True, "channel": body["channel"], "ts": body["ts"], "text": body["text"]}
                )
            if path.startswith("/response/"):
                slack.responses.append(body)
                return self._answer(200, {"ok": True})
            if path == "/hook":
                slack.webhook.append(body)
                return self._answer(200, {"ok": True})
            return self._answer(404, {"ok": False, "error": "unknown_method"})

        def log_message(self, *args):
            pass

    return Handler


def start_fake_slack() -> tuple[FakeSlack, ThreadingHTTPServer]:
    """Start the fake Slack on a free port; return it and its server (shut it down when done)."""
    slack = FakeSlack()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(slack))
    slack.base_url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return slack, server
