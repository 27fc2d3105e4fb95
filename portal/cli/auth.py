"""Where the client's access token comes from: `LATCHKEY_TOKEN`, or a sign-in with MSAL.

At a desktop the sign-in opens the browser on the authorization code flow with PKCE,
its answer coming back to a loopback redirect (`http://localhost:<port>`) that MSAL
listens on; this is the flow Conditional Access policies expect. Only where no browser
can be opened (an SSH session, a container) does it fall back to the device-code flow,
which many tenants block.
"""

import os
import sys
import webbrowser
from pathlib import Path

from portal.cli.errors import EXIT_NOT_SIGNED_IN, EXIT_USAGE, CliError

SIGN_IN_HELP = (
    "Set LATCHKEY_TOKEN to an access token for the portal's API (CI jobs), or set LATCHKEY_CLIENT_ID, "
    "LATCHKEY_TENANT_ID and LATCHKEY_SCOPE to sign in in the browser (or with a code where there is no browser)."
)
BROWSER = "browser"
DEVICE_CODE = "device-code"
# How long the browser sign-in waits for the person before it gives up.
BROWSER_TIMEOUT_SECONDS = 300


def access_token(*, token_cache: str | None) -> str:
    """Return an access token for the portal's API: from the environment, else from a sign-in."""
    token = os.environ.get("LATCHKEY_TOKEN", "").strip()
    if token:
        return token
    client_id = os.environ.get("LATCHKEY_CLIENT_ID", "").strip()
    tenant_id = os.environ.get("LATCHKEY_TENANT_ID", "").strip()
    scope = os.environ.get("LATCHKEY_SCOPE", "").strip()
    if not (client_id and tenant_id and scope):
        raise CliError(f"Not signed in. {SIGN_IN_HELP}", exit_code=EXIT_NOT_SIGNED_IN)
    authority = os.environ.get("LATCHKEY_AUTHORITY", "").strip()
    return _signed_in_token(
        client_id=client_id,
        authority=authority or f"https://login.microsoftonline.com/{tenant_id}",
        # An authority named by hand (a national cloud, a test) is used as named, without
        # asking login.microsoftonline.com to vouch for it.
        instance_discovery=not authority,
        scope=scope,
        token_cache=token_cache,
        method=sign_in_method(os.environ),
    )


def browser_available(environ) -> bool:
    """Return whether a browser can be opened here for the sign-in."""
    graphical = sys.platform in ("darwin", "win32") or bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))
    if not graphical:
        # A Linux or BSD terminal without a display: an SSH session, a container, a console.
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def sign_in_method(environ) -> str:
    """Return how to sign in: `LATCHKEY_SIGN_IN` (browser or device-code), else the browser where there is one."""
    chosen = environ.get("LATCHKEY_SIGN_IN", "").strip().lower()
    if chosen in (BROWSER, DEVICE_CODE):
        return chosen
    if chosen:
        raise CliError(f"LATCHKEY_SIGN_IN is {BROWSER} or {DEVICE_CODE}, not {chosen!r}.", exit_code=EXIT_USAGE)
    return BROWSER if browser_available(environ) else DEVICE_CODE


def _signed_in_token(
    *, client_id: str, authority: str, instance_discovery: bool, scope: str, token_cache: str | None, method: str
) -> str:
    import msal

    cache = msal.SerializableTokenCache()
    cache_path = Path(token_cache).expanduser() if token_cache else None
    if cache_path is not None and cache_path.exists():
        cache.deserialize(cache_path.read_text())
    app = msal.PublicClientApplication(
        client_id, authority=authority, token_cache=cache, instance_discovery=instance_discovery
    )
    result = None
    accounts = app.get_accounts()
    if accounts:
        result = app.acquire_token_silent([scope], account=accounts[0])
    if not result:
        result = _browser_sign_in(app, scope) if method == BROWSER else _device_code_sign_in(app, scope)
    if "access_token" not in result:
        raise CliError(
            f"The sign-in failed: {result.get('error_description') or result.get('error')}",
            exit_code=EXIT_NOT_SIGNED_IN,
        )
    # The token cache holds refresh tokens: it is written only where the user asked, readable by them only.
    if cache_path is not None and cache.has_state_changed:
        cache_path.touch(mode=0o600, exist_ok=True)
        cache_path.chmod(0o600)
        cache_path.write_text(cache.serialize())
    return result["access_token"]


def _browser_sign_in(app, scope: str) -> dict:
    """Sign in with the authorization code flow and PKCE; MSAL listens on `http://localhost:<free port>`."""
    return app.acquire_token_interactive(
        [scope],
        prompt="select_account",
        timeout=BROWSER_TIMEOUT_SECONDS,
        on_before_launching_ui=lambda **_: print(
            "Opening your browser to sign in to the portal...", file=sys.stderr, flush=True
        ),
    )


def _device_code_sign_in(app, scope: str) -> dict:
    """Sign in with a code entered in a browser elsewhere (device-code flow)."""
    flow = app.initiate_device_flow(scopes=[scope])
    if "user_code" not in flow:
        raise CliError(
            f"The sign-in could not start: {flow.get('error_description') or flow.get('error')}",
            exit_code=EXIT_NOT_SIGNED_IN,
        )
    print(flow["message"], file=sys.stderr, flush=True)
    return app.acquire_token_by_device_flow(flow)
