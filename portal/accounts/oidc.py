"""The one module that talks to the OpenID provider: discovery, signing keys and the token endpoint.

Every endpoint comes from the discovery document of `OIDC_ISSUER`, so moving from the
demo provider to Entra ID is a change of environment variables only.
"""

import threading
import time

import jwt
import requests
from django.conf import settings

# Discovery documents and key sets change rarely; re-reading them for every sign-in
# would make each sign-in depend on two extra round trips.
CACHE_SECONDS = 300
TIMEOUT_SECONDS = 10
# An unknown `kid` re-reads the key set, but at most this often: a stream of tokens with
# made-up key IDs must not turn every API call into a request to the provider.
MIN_REFRESH_SECONDS = 10

_cache: dict[str, tuple[float, dict]] = {}
_refreshed: dict[str, float] = {}
_lock = threading.Lock()


class ProviderUnavailable(Exception):
    """The OpenID provider could not be reached or answered with an error."""


class TokenRequestRejected(Exception):
    """The token endpoint refused the authorization code."""


def _get_json(url: str) -> dict:
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(f"{url}: {error.__class__.__name__}") from error
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{url}: the answer is not a JSON object")
    return document


def _cached(url: str, *, refresh: bool = False) -> dict:
    with _lock:
        entry = _cache.get(url)
        last_refresh = _refreshed.get(url)
        if refresh and entry is not None and last_refresh is not None:
            refresh = time.monotonic() - last_refresh >= MIN_REFRESH_SECONDS
        if refresh:
            _refreshed[url] = time.monotonic()
    if entry is not None and not refresh and time.monotonic() - entry[0] < CACHE_SECONDS:
        return entry[1]
    document = _get_json(url)
    with _lock:
        _cache[url] = (time.monotonic(), document)
    return document


def clear_cache() -> None:
    """Forget every cached discovery document and key set."""
    with _lock:
        _cache.clear()
        _refreshed.clear()


def provider_metadata() -> dict:
    """Return the discovery document of the configured issuer, which must name that same issuer."""
    url = f"{settings.OIDC_ISSUER}/.well-known/openid-configuration"
    document = _cached(url)
    # OpenID Connect Discovery 1.0, section 4.3: a document for another issuer is not to be used.
    if document.get("issuer") != settings.OIDC_ISSUER:
        raise ProviderUnavailable(f"{url} names the issuer {document.get('issuer')!r}, not {settings.OIDC_ISSUER!r}")
    return document


def endpoint(name: str) -> str | None:
    """Return one endpoint of the discovery document (`authorization_endpoint`, …), or None."""
    return provider_metadata().get(name)


def signing_key(kid: str | None) -> jwt.PyJWK | None:
    """Return the provider's RS256 signing key with key ID `kid`, re-reading the key set once on a miss."""
    jwks_uri = endpoint("jwks_uri")
    if not jwks_uri:
        raise ProviderUnavailable("The provider's discovery document has no jwks_uri.")
    for refresh in (False, True):
        for key in _cached(jwks_uri, refresh=refresh).get("keys", []):
            if key.get("kty") != "RSA" or key.get("use", "sig") != "sig":
                continue
            if key.get("alg", "RS256") != "RS256":
                continue
            if kid is not None and key.get("kid") != kid:
                continue
            try:
                return jwt.PyJWK(key, algorithm="RS256")
            except jwt.PyJWTError:
                # A malformed key in the set is skipped, as if it were not published.
                continue
    return None


def exchange_code(*, code: str, redirect_uri: str, code_verifier: str | None) -> dict:
    """Exchange an authorization code at the token endpoint; return its JSON answer."""
    token_endpoint = endpoint("token_endpoint")
    if not token_endpoint:
        raise ProviderUnavailable("The provider's discovery document has no token_endpoint.")
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "client_secret": settings.OIDC_RP_CLIENT_SECRET,
    }
    if code_verifier is not None:
        data["code_verifier"] = code_verifier
    try:
        response = requests.post(token_endpoint, data=data, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise ProviderUnavailable(f"{token_endpoint}: {error.__class__.__name__}") from error
    if response.status_code >= 500:
        raise ProviderUnavailable(f"{token_endpoint}: HTTP {response.status_code}")
    if response.status_code != 200:
        # The error code is safe to show (RFC 6749 section 5.2); the body may echo the request.
        try:
            reason = response.json().get("error", "invalid_grant")
        except ValueError:
            reason = "invalid_grant"
        raise TokenRequestRejected(str(reason))
    try:
        return response.json()
    except ValueError as error:
        raise ProviderUnavailable(f"{token_endpoint}: the answer is not JSON") from error


def exchange_on_behalf_of(*, assertion: str, scope: str) -> str:
    """Exchange a person's access token for the portal's API for one to `scope` (OAuth 2.0 on-behalf-of)."""
    token_endpoint = endpoint("token_endpoint")
    if not token_endpoint:
        raise ProviderUnavailable("The provider's discovery document has no token_endpoint.")
    data = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "requested_token_use": "on_behalf_of",
        "assertion": assertion,
        "scope": scope,
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "client_secret": settings.OIDC_RP_CLIENT_SECRET,
    }
    try:
        response = requests.post(token_endpoint, data=data, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise ProviderUnavailable(f"{token_endpoint}: {error.__class__.__name__}") from error
    if response.status_code >= 500:
        raise ProviderUnavailable(f"{token_endpoint}: HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError as error:
        raise ProviderUnavailable(f"{token_endpoint}: the answer is not JSON") from error
    if response.status_code != 200 or not isinstance(answer.get("access_token"), str):
        raise TokenRequestRejected(str(answer.get("error", "invalid_grant")))
    return answer["access_token"]


def client_credentials_token(*, scope: str) -> str:
    """Return an access token of the portal itself (no person) for `scope` (OAuth 2.0 client credentials)."""
    token_endpoint = endpoint("token_endpoint")
    if not token_endpoint:
        raise ProviderUnavailable("The provider's discovery document has no token_endpoint.")
    data = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "client_secret": settings.OIDC_RP_CLIENT_SECRET,
    }
    try:
        response = requests.post(token_endpoint, data=data, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise ProviderUnavailable(f"{token_endpoint}: {error.__class__.__name__}") from error
    if response.status_code >= 500:
        raise ProviderUnavailable(f"{token_endpoint}: HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError as error:
        raise ProviderUnavailable(f"{token_endpoint}: the answer is not JSON") from error
    if response.status_code != 200 or not isinstance(answer.get("access_token"), str):
        raise TokenRequestRejected(str(answer.get("error", "unauthorized_client")))
    return answer["access_token"]
