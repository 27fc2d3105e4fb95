"""Where the client's access token comes from: `LATCHKEY_TOKEN`, or a device-code sign-in with MSAL."""

import os
import sys
from pathlib import Path

from portal.cli.errors import EXIT_NOT_SIGNED_IN, CliError

SIGN_IN_HELP = (
    "Set LATCHKEY_TOKEN to an access token for the portal's API (CI jobs), or set LATCHKEY_CLIENT_ID, "
    "LATCHKEY_TENANT_ID and LATCHKEY_SCOPE to sign in with a code in the browser."
)


def access_token(*, token_cache: str | None) -> str:
    """Return an access token for the portal's API: from the environment, else from a device-code sign-in."""
    token = os.environ.get("LATCHKEY_TOKEN", "").strip()
    if token:
        return token
    client_id = os.environ.get("LATCHKEY_CLIENT_ID", "").strip()
    tenant_id = os.environ.get("LATCHKEY_TENANT_ID", "").strip()
    scope = os.environ.get("LATCHKEY_SCOPE", "").strip()
    if not (client_id and tenant_id and scope):
        raise CliError(f"Not signed in. {SIGN_IN_HELP}", exit_code=EXIT_NOT_SIGNED_IN)
    authority = os.environ.get("LATCHKEY_AUTHORITY", f"https://login.microsoftonline.com/{tenant_id}")
    return _device_code_token(client_id=client_id, authority=authority, scope=scope, token_cache=token_cache)


def _device_code_token(*, client_id: str, authority: str, scope: str, token_cache: str | None) -> str:
    import msal

    cache = msal.SerializableTokenCache()
    cache_path = Path(token_cache).expanduser() if token_cache else None
    if cache_path is not None and cache_path.exists():
        cache.deserialize(cache_path.read_text())
    app = msal.PublicClientApplication(client_id, authority=authority, token_cache=cache)
    result = None
    accounts = app.get_accounts()
    if accounts:
        result = app.acquire_token_silent([scope], account=accounts[0])
    if not result:
        flow = app.initiate_device_flow(scopes=[scope])
        if "user_code" not in flow:
            raise CliError(
                f"The sign-in could not start: {flow.get('error_description') or flow.get('error')}",
                exit_code=EXIT_NOT_SIGNED_IN,
            )
        print(flow["message"], file=sys.stderr, flush=True)
        result = app.acquire_token_by_device_flow(flow)
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
