"""The one module of the client that talks to the portal: JSON over HTTPS with a bearer token."""

import ipaddress
from urllib.parse import urlsplit

import requests

from portal.cli.errors import EXIT_ERROR, EXIT_UNAVAILABLE, EXIT_USAGE, ApiError, CliError

TIMEOUT_SECONDS = 30


def portal_url(text: str) -> str:
    """Return the portal's address `text` once it is HTTPS, or plain HTTP to this machine only.

    The client sends an access token with every call: over plain HTTP anyone on the way
    could read it and use it until it expires.
    """
    url = text.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    if parts is None or parts.scheme not in ("https", "http") or not host:
        raise CliError(
            f"{text!r} is not the portal's address: write it as https://latchkey.example.com.", exit_code=EXIT_USAGE
        )
    if parts.scheme == "http" and not _is_loopback(host):
        raise CliError(
            f"Refusing {url}: plain http:// would send your access token unencrypted. Use https://, "
            "or http:// only to this machine (localhost, 127.0.0.1, ::1).",
            exit_code=EXIT_USAGE,
        )
    return url


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Portal:
    """The portal's API at `base_url`, called with an Entra ID access token."""

    def __init__(self, base_url: str, token: str):
        self.base_url = portal_url(base_url)
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": "latchkey-cli"}
        )

    def get(self, path: str, params: dict | None = None):
        return self._call("GET", path, params=params)

    def post(self, path: str, body: dict | None = None):
        return self._call("POST", path, json=body or {})

    def _call(self, method: str, path: str, **kwargs):
        url = f"{self.base_url}/api/v1/{path}"
        try:
            response = self.session.request(method, url, timeout=TIMEOUT_SECONDS, allow_redirects=False, **kwargs)
        except requests.RequestException as error:
            raise CliError(
                f"The portal at {self.base_url} could not be reached ({error.__class__.__name__}).",
                exit_code=EXIT_UNAVAILABLE,
            ) from error
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.ok and body is not None:
            return body
        if isinstance(body, dict) and "error" in body:
            raise ApiError(
                status=response.status_code,
                code=str(body["error"]),
                detail=str(body.get("detail", "")),
                fields=body.get("fields") if isinstance(body.get("fields"), dict) else None,
            )
        exit_code = EXIT_UNAVAILABLE if response.status_code >= 500 else EXIT_ERROR
        raise CliError(
            f"The portal answered HTTP {response.status_code} to {method} {path}, not the API's JSON. "
            "Is LATCHKEY_URL the portal's address?",
            exit_code=exit_code,
        )
