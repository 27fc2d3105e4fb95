"""The client's sign-in: the browser with PKCE on a loopback redirect at a desktop, the device code elsewhere.

The browser sign-in runs MSAL for real against a local HTTPS stand-in of Entra ID's
v2.0 endpoints (MSAL accepts only HTTPS authorities), with a "browser" that follows
the authorization redirect the way a person's browser would.
"""

import base64
import hashlib
import html
import re
import threading
import time
import webbrowser
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

from portal.cli import auth
from portal.cli.errors import CliError
from tests.support import tls
from tests.support.sign_in import JsonHandler

TENANT = "c0000000-0000-4000-8000-00000000000c"
CLIENT_ID = "d0000000-0000-4000-8000-0000000000c1"
SCOPE = "api://a0000000-0000-4000-8000-0000000000aa/access_as_user"


# ----- choosing the flow -----


class _FoundBrowser:
    def open(self, url):  # pragma: no cover - never called by the choice
        return True


def _no_browser():
    raise webbrowser.Error("could not locate runnable browser")


@pytest.mark.parametrize(
    ("environ", "found", "method"),
    [
        ({"DISPLAY": ":0"}, True, auth.BROWSER),
        ({"WAYLAND_DISPLAY": "wayland-0"}, True, auth.BROWSER),
        ({"DISPLAY": ":0"}, False, auth.DEVICE_CODE),
        ({"SSH_CONNECTION": "198.51.100.7 51000 10.0.0.5 22"}, True, auth.DEVICE_CODE),
        ({}, True, auth.DEVICE_CODE),
        ({"LATCHKEY_SIGN_IN": "device-code", "DISPLAY": ":0"}, True, auth.DEVICE_CODE),
        ({"LATCHKEY_SIGN_IN": "browser"}, False, auth.BROWSER),
    ],
)
def test_the_browser_is_used_where_one_can_open_and_the_device_code_elsewhere(monkeypatch, environ, found, method):
    monkeypatch.setattr(auth.sys, "platform", "linux")
    monkeypatch.setattr(webbrowser, "get", (lambda using=None: _FoundBrowser()) if found else _no_browser)

    assert auth.sign_in_method(environ) == method


def test_a_desktop_with_a_browser_needs_no_display_variable(monkeypatch):
    monkeypatch.setattr(auth.sys, "platform", "darwin")
    monkeypatch.setattr(webbrowser, "get", lambda using=None: _FoundBrowser())

    assert auth.sign_in_method({}) == auth.BROWSER


def test_an_unknown_sign_in_method_is_a_usage_error():
    with pytest.raises(CliError, match="browser or device-code"):
        auth.sign_in_method({"LATCHKEY_SIGN_IN": "password"})


# ----- the browser sign-in against a stand-in of Entra ID -----


class _EntraHandler(JsonHandler):
    def do_GET(self):
        entra = self.server.entra
        url = urlsplit(self.path)
        base = entra.base
        if url.path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            self.send_json(
                200,
                {
                    "issuer": entra.issuer,
                    "authorization_endpoint": f"{base}/{TENANT}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/{TENANT}/oauth2/v2.0/token",
                    "device_authorization_endpoint": f"{base}/{TENANT}/oauth2/v2.0/devicecode",
                    "jwks_uri": f"{base}/{TENANT}/discovery/v2.0/keys",
                },
            )
        elif url.path == f"/{TENANT}/oauth2/v2.0/authorize":
            query = {name: values[0] for name, values in parse_qs(url.query).items()}
            entra.authorizations.append(query)
            # The person signs in; Entra sends the browser back to the client's redirect URI, with
            # `response_mode=form_post` as a form the page submits by itself.
            answer = {"code": "the-code", "state": query["state"]}
            if query.get("response_mode") == "form_post":
                fields = "".join(
                    f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in answer.items()
                )
                page = (
                    f'<html><body onload="document.forms[0].submit()"><form method="POST" '
                    f'action="{html.escape(query["redirect_uri"])}">{fields}</form></body></html>'
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
            else:
                self.send_response(302)
                self.send_header("Location", f"{query['redirect_uri']}?{urlencode(answer)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
        else:
            self.send_json(404, {"error": "not_found"})

    def do_POST(self):
        entra = self.server.entra
        length = int(self.headers.get("Content-Length", 0))
        form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
        entra.token_requests.append(form)
        if urlsplit(self.path).path.endswith("/devicecode"):
            entra.device_code_requests += 1
            self.send_json(
                400, {"error": "invalid_request", "error_description": "AADSTS50199: device code flow blocked"}
            )
            return
        authorization = entra.authorizations[-1]
        challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if (
            form.get("grant_type") != "authorization_code"
            or form.get("code") != "the-code"
            or form.get("redirect_uri") != authorization["redirect_uri"]
            or challenge.rstrip(b"=").decode() != authorization.get("code_challenge")
        ):
            self.send_json(400, {"error": "invalid_grant", "error_description": "AADSTS70000: the code does not match"})
            return
        now = int(time.time())
        id_token = jwt.encode(
            {
                "iss": entra.issuer,
                "aud": CLIENT_ID,
                "sub": "sub-alice",
                "oid": "b0000000-0000-4000-8000-000000000001",
                "tid": TENANT,
                "preferred_username": "alice@contoso.example",
                "nonce": authorization.get("nonce"),
                "iat": now,
                "nbf": now,
                "exp": now + 600,
            },
            "not-checked-by-the-client-only-decoded-here",
            algorithm="HS256",
        )
        self.send_json(
            200,
            {
                "token_type": "Bearer",
                "scope": SCOPE,
                "expires_in": 3600,
                "access_token": "access-token-for-the-portal",
                "id_token": id_token,
            },
        )


class _Entra:
    def __init__(self, cert_path, key_path):
        self.authorizations: list[dict] = []
        self.token_requests: list[dict] = []
        self.device_code_requests = 0
        self.httpd = tls.serve(_EntraHandler, cert_path, key_path)
        self.httpd.entra = self

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def issuer(self) -> str:
        return f"{self.base}/{TENANT}/v2.0"


@pytest.fixture
def entra(tmp_path, monkeypatch):
    cert_path, key_path = tls.certificate(tmp_path)
    server = _Entra(cert_path, key_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_path))
    for name, value in {
        "LATCHKEY_CLIENT_ID": CLIENT_ID,
        "LATCHKEY_TENANT_ID": TENANT,
        "LATCHKEY_SCOPE": SCOPE,
        "LATCHKEY_AUTHORITY": f"{server.base}/{TENANT}",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LATCHKEY_TOKEN", raising=False)
    monkeypatch.delenv("LATCHKEY_SIGN_IN", raising=False)
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def person_at_the_browser(monkeypatch):
    """Stand in for the desktop browser: open the URL, sign in, follow the redirect back to the client."""
    opened: list[str] = []

    def follow(url: str) -> None:
        answer = requests.get(url, allow_redirects=False, timeout=10)
        if answer.status_code == 302:
            requests.get(answer.headers["Location"], timeout=10)
            return
        # The page's form posts itself back to the client, as a browser runs its onload.
        action = html.unescape(re.search(r'action="([^"]+)"', answer.text).group(1))
        fields = {
            name: html.unescape(value) for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', answer.text)
        }
        requests.post(action, data=fields, timeout=10)

    def open_url(url, *args, **kwargs):
        opened.append(url)
        threading.Thread(target=follow, args=(url,), daemon=True).start()
        return True

    monkeypatch.setattr(auth.sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(webbrowser, "get", lambda using=None: _FoundBrowser())
    monkeypatch.setattr(webbrowser, "open", open_url)
    return opened


def test_at_a_desktop_the_sign_in_uses_the_code_flow_with_pkce_on_a_loopback_redirect(entra, person_at_the_browser):
    token = auth.access_token(token_cache=None)

    assert token == "access-token-for-the-portal"
    (authorization,) = entra.authorizations
    redirect = urlsplit(authorization["redirect_uri"])
    assert redirect.scheme == "http"
    assert redirect.hostname == "localhost"
    assert redirect.port
    assert authorization["response_type"] == "code"
    assert authorization["code_challenge_method"] == "S256"
    assert authorization["response_mode"] == "form_post"
    assert SCOPE in authorization["scope"].split()
    assert person_at_the_browser and person_at_the_browser[0].startswith(f"{entra.base}/{TENANT}/oauth2/v2.0/authorize")
    (exchange,) = entra.token_requests
    assert exchange["grant_type"] == "authorization_code"
    assert entra.device_code_requests == 0


def test_without_a_browser_the_device_code_flow_is_asked_for(entra, monkeypatch):
    monkeypatch.setattr(auth.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)

    with pytest.raises(CliError, match="device code flow blocked"):
        auth.access_token(token_cache=None)

    assert entra.device_code_requests == 1
    assert entra.authorizations == []
