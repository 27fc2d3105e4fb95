"""`Authorization: Bearer` on the API: Entra ID access tokens of people and of applications."""

import hashlib
import logging
import time

from django.core.cache import cache
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from portal.accounts import oidc, services
from portal.accounts.auth import _string_list, has_group_overage
from portal.accounts.errors import TokenRefused
from portal.accounts.tokens import is_application_token, verify_access_token
from portal.integrations import graph

logger = logging.getLogger(__name__)

SCHEME = "Bearer"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class EntraBearerAuthentication(BaseAuthentication):
    """Authenticate an API call by the Entra ID access token it carries, issued for the portal's API.

    A request without an `Authorization: Bearer` header is left to the next class (the
    browser session). Memberships are read from the token at every call, so they are
    always fresh; on group overage they come from Microsoft Graph, once per token.
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
                app_roles=_string_list(claims.get("roles")),
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
    """Return the person's groups from the token, or from Microsoft Graph when the token says there are too many."""
    if not has_group_overage(claims):
        return _string_list(claims.get("groups"))
    # One Graph read per token, not per call: a CI job may call the API every few seconds.
    key = "accounts:bearer-groups:" + hashlib.sha256(token.encode()).hexdigest()
    groups = cache.get(key)
    if groups is not None:
        return groups
    try:
        graph_token = oidc.exchange_on_behalf_of(assertion=token, scope=GRAPH_SCOPE)
        groups = graph.member_group_ids(access_token=graph_token)
    except (oidc.ProviderUnavailable, oidc.TokenRequestRejected, graph.GraphUnavailable) as error:
        # Never continue with zero groups: that would hide roles and approvals silently.
        raise TokenRefused(
            "You are in too many groups to list in the access token, and reading them from Microsoft Graph "
            "failed. Try again in a minute.",
            status=503,
            reason=f"group overage: {error.__class__.__name__}: {error}",
        ) from error
    cache.set(key, groups, timeout=max(1, int(claims["exp"] - time.time())))
    return groups


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
