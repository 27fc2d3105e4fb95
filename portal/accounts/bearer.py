"""The API's bearer check: `Authorization: Bearer` with Entra ID access tokens of people and of applications."""

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


class EntraBearerAuthentication(BaseAuthentication):
    """Authenticate an API call by the Entra ID access token it carries, issued for the portal's API.

    A request without an `Authorization: Bearer` header is left to the next class (the
    browser session). Memberships are read from the token at every call; on group
    overage they come from Microsoft Graph, once per token.
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
        if not user.is_active:
            raise _refused("user inactive", "This identity may not use the portal.", status=403)
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
    except (oidc.ProviderUnavailable, oidc.TokenRequestRejected) as error:
        raise TokenRefused(
            "You are in too many groups to list in the access token, and reading them from Microsoft Graph "
            "failed. Try again in a minute.",
            status=503,
            reason=f"group overage: {error.__class__.__name__}: {error}",
        ) from error


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
