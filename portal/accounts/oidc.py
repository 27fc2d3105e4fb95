"""The one module that talks to the OpenID provider: discovery, signing keys and the token endpoint.

Every endpoint comes from the discovery document of `OIDC_ISSUER`, so moving from the
demo provider to Entra ID is a change of environment variables only.
"""

import functools
import json
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
    """The token endpoint refused the grant (RFC 6749 section 5.2).

    `error` is the endpoint's error code; `claims` is the claims challenge that Entra ID
    adds to `interaction_required` (Conditional Access), if any.
    """

    def __init__(self, error: str, *, claims: str | None = None, status: int | None = None):
        super().__init__(error)
        self.error = error
        self.claims = claims
        self.status = status


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


def v1_metadata() -> dict:
    """Return Entra's v1.0 discovery document of the tenant of `OIDC_ISSUER` (`…/{tenant}/v2.0`).

    v1.0 access tokens (an API whose `requestedAccessTokenVersion` is not 2) name the
    issuer `https://sts.windows.net/{tenant}/` of this document, and are checked with its keys.
    """
    if not settings.OIDC_ISSUER.endswith("/v2.0"):
        raise ProviderUnavailable(f"{settings.OIDC_ISSUER} is no Entra v2.0 issuer: it has no v1.0 metadata.")
    url = f"{settings.OIDC_ISSUER.removesuffix('/v2.0')}/.well-known/openid-configuration"
    document = _cached(url)
    if not isinstance(document.get("issuer"), str):
        raise ProviderUnavailable(f"{url} names no issuer")
    return document


def signing_key(kid: str | None, *, metadata: dict | None = None) -> jwt.PyJWK | None:
    """Return the RS256 key `kid` of the key set of `metadata` (default: the issuer's); re-read once on a miss."""
    jwks_uri = (metadata or provider_metadata()).get("jwks_uri")
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
                return _parsed_key(json.dumps(key, sort_keys=True))
            except jwt.PyJWTError:
                # A malformed key in the set is skipped, as if it were not published.
                continue
    return None


@functools.lru_cache(maxsize=32)
def _parsed_key(key: str) -> jwt.PyJWK:
    """Return the RS256 key of JSON Web Key `key`, parsed once: every API call checks its token with one, and
    making the RSA key from the published numbers took a tenth of that check. A key set that changes publishes
    other keys, which are parsed anew; a malformed one raises each time, and is not kept."""
    return jwt.PyJWK(json.loads(key), algorithm="RS256")


def _token_request(grant: dict) -> dict:
    """POST `grant` with the portal's client credentials to the token endpoint; return its JSON answer."""
    token_endpoint = endpoint("token_endpoint")
    if not token_endpoint:
        raise ProviderUnavailable("The provider's discovery document has no token_endpoint.")
    data = {**grant, "client_id": settings.OIDC_RP_CLIENT_ID, "client_secret": settings.OIDC_RP_CLIENT_SECRET}
    try:
        response = requests.post(token_endpoint, data=data, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise ProviderUnavailable(f"{token_endpoint}: {error.__class__.__name__}") from error
    if response.status_code >= 500:
        raise ProviderUnavailable(f"{token_endpoint}: HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200:
        # The error code is safe to show (RFC 6749 section 5.2); the description may echo the request.
        error = answer.get("error") if isinstance(answer, dict) else None
        claims = answer.get("claims") if isinstance(answer, dict) else None
        raise TokenRequestRejected(
            error if isinstance(error, str) and error else "invalid_grant",
            claims=claims if isinstance(claims, str) and claims else None,
            status=response.status_code,
        )
    if not isinstance(answer, dict):
        raise ProviderUnavailable(f"{token_endpoint}: the answer is not a JSON object")
    return answer


def exchange_code(*, code: str, redirect_uri: str, code_verifier: str | None) -> dict:
    """Exchange an authorization code at the token endpoint; return its JSON answer."""
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if code_verifier is not None:
        grant["code_verifier"] = code_verifier
    return _token_request(grant)


def exchange_on_behalf_of(*, assertion: str, scope: str) -> str:
    """Exchange a person's access token for the portal's API for one to `scope` (OAuth 2.0 on-behalf-of)."""
    answer = _token_request(
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "requested_token_use": "on_behalf_of",
            "assertion": assertion,
            "scope": scope,
        }
    )
    if not isinstance(answer.get("access_token"), str):
        raise TokenRequestRejected("invalid_grant")
    return answer["access_token"]


def request_client_credentials(*, scope: str) -> str:
    """Return an access token of the portal itself (no person) for `scope` (OAuth 2.0 client credentials)."""
    answer = _token_request({"grant_type": "client_credentials", "scope": scope})
    if not isinstance(answer.get("access_token"), str):
        raise TokenRequestRejected("invalid_grant")
    return answer["access_token"]
