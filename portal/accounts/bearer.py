"""The API's bearer check: `Authorization: Bearer` with Entra ID access tokens of people and of applications."""

import base64
import hashlib
import logging

from django.core.cache import cache
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from portal.accounts import memberships, oidc, services
from portal.accounts.errors import TokenRefused
from portal.accounts.tokens import is_application_token, verify_access_token
from portal.core import clock

logger = logging.getLogger(__name__)

SCHEME = "Bearer"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# On-behalf-of errors that only an interactive sign-in resolves (Microsoft identity platform, OBO flow).
CLAIMS_CHALLENGE_ERRORS = ("consent_required", "interaction_required")


class EntraBearerAuthentication(BaseAuthentication):
    """Authenticate an API call by the Entra ID access token it carries, issued for the portal's API.

    A request without an `Authorization: Bearer` header is left to the next class (the
    browser session). Memberships are read from the token at every call and hold for
    that call only, as fresh as the token's `iat`; on group overage they come from
    Microsoft Graph, once per token.
    """

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != SCHEME.lower().encode():
            return None
        if len(parts) != 2:
            raise _refused("Authorization header is not `Bearer <token>`", "Send the header as `Bearer <token>`.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise _refused("non-ASCII bearer token", "The access token is malformed.") from None
        try:
            claims = verify_access_token(token)
            user = services.profile_from_access_token(
                claims=claims,
                groups=[] if is_application_token(claims) else _groups(claims, token),
                app_roles=memberships.app_roles(claims),
            )
        except TokenRefused as refusal:
            logger.warning("bearer token refused (%s): %s", refusal.status, refusal.reason)
            raise
        return user, claims

    def authenticate_header(self, request) -> str:
        return f'{SCHEME} realm="api"'


def _refused(reason: str, detail: str, *, status: int = 401) -> TokenRefused:
    logger.warning("bearer token refused (%s): %s", status, reason)
    return TokenRefused(detail, status=status, reason=reason)


def _groups(claims: dict, token: str) -> list[str]:
    """Return the person's groups, reading Microsoft Graph at most once per token on overage."""
    if not memberships.has_group_overage(claims):
        return memberships.string_list(claims.get("groups"))
    # One Graph read per token, not per call: a CI job may call the API every few seconds.
    key = "accounts:bearer-groups:" + hashlib.sha256(token.encode()).hexdigest()
    groups = cache.get(key)
    if groups is None:
        groups = memberships.groups(
            claims,
            graph_access_token=lambda: _graph_access_token(token),
            refusal=TokenRefused,
            token_name="access token",
        )
        cache.set(key, groups, timeout=max(1, int(claims["exp"] - clock.now().timestamp())))
    return groups


def _graph_access_token(token: str) -> str:
    """Exchange the person's token for one to Microsoft Graph (on-behalf-of)."""
    try:
        return oidc.exchange_on_behalf_of(assertion=token, scope=GRAPH_SCOPE)
    except oidc.TokenRequestRejected as error:
        if error.error in CLAIMS_CHALLENGE_ERRORS:
            raise _claims_challenge(error) from error
        raise _graph_token_failed(error) from error
    except oidc.ProviderUnavailable as error:
        raise _graph_token_failed(error) from error


def _graph_token_failed(error: Exception) -> TokenRefused:
    return TokenRefused(
        "You are in too many groups to list in the access token, and reading them from Microsoft Graph "
        "failed. Try again in a minute.",
        status=503,
        reason=f"group overage: {error.__class__.__name__}: {error}",
    )


def _claims_challenge(error: oidc.TokenRequestRejected) -> TokenRefused:
    """Return the 401 that passes Entra's `consent_required`/`interaction_required` back to the caller.

    Neither is temporary: the person must consent, or satisfy a Conditional Access policy
    (MFA, a compliant device), in an interactive sign-in. The claims challenge goes back
    in `WWW-Authenticate` (base64, as Microsoft's claims-challenge format has it) and in
    the body, so the client can ask for a new token with those claims.
    """
    try:
        authorization_uri = oidc.endpoint("authorization_endpoint") or ""
    except oidc.ProviderUnavailable:
        authorization_uri = ""
    challenge = [f'{SCHEME} realm=""', f'authorization_uri="{authorization_uri}"']
    if error.claims:
        challenge += ['error="insufficient_claims"', f'claims="{base64.b64encode(error.claims.encode()).decode()}"']
    else:
        challenge.append(f'error="{error.error}"')
    what = "consent to" if error.error == "consent_required" else "sign in again interactively for"
    return TokenRefused(
        f"Your organisation requires you to {what} this access (Conditional Access or consent, "
        f"`{error.error}`). Get a new token interactively, with the claims challenge if one is given, and try again.",
        status=401,
        code=error.error,
        reason=f"on-behalf-of refused: {error.error}",
        headers={"WWW-Authenticate": ", ".join(challenge)},
        **({"claims": error.claims} if error.claims else {}),
    )


class EntraBearerScheme(OpenApiAuthenticationExtension):
    """Describe the bearer scheme in the OpenAPI schema."""

    target_class = EntraBearerAuthentication
    name = "entraBearer"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An Entra ID access token issued for the portal's API (audience OIDC_API_AUDIENCE).",
        }
