"""The browser sign-in: Entra ID through mozilla-django-oidc (code flow), with the checks the library leaves out."""

import logging

from django.contrib.auth import get_user_model
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from portal.accounts import memberships, oidc, services
from portal.accounts.errors import SignInRefused
from portal.accounts.tokens import verify_id_token
from portal.core.db import Compiled

logger = logging.getLogger(__name__)

# Every request of a signed-in browser reads it, so it is compiled once. With the profile: nearly every request
# reads that too (the log context's oid, groups, admin power).
_ACTIVE_USER = Compiled(
    lambda pk: get_user_model()._default_manager.select_related("profile").filter(pk=pk, is_active=True)[:1], pk=int
)


class EntraSignInBackend(OIDCAuthenticationBackend):
    """Authenticate people from the verified ID token of Entra ID, keyed by tenant and object ID.

    Identity, groups and app roles come from the ID token (Entra's userinfo has no
    `oid`, `tid`, `groups` or `roles`); groups come from Microsoft Graph when the
    token only carries the overage indicator. A refusal raises `SignInRefused`,
    which the callback view turns into a page.
    """

    def __init__(self, *args, **kwargs):
        # The library's constructor insists on endpoint settings; ours come from discovery.
        self.UserModel = get_user_model()

    def get_user(self, user_id):
        """Return the active user `user_id` of a session, or None: a deactivated person's sessions end at once."""
        return _ACTIVE_USER.first(pk=user_id)

    def authenticate(self, request, nonce=None, code_verifier=None, **kwargs):
        """Return the user of the authorization code in `request`, or None if it carries none."""
        if request is None:
            return None
        code, state = request.GET.get("code"), request.GET.get("state")
        if not code or not state:
            return None
        self.request = request
        access_token, claims = self._tokens(request, code=code, nonce=nonce, code_verifier=code_verifier)
        groups = memberships.groups(
            claims,
            graph_access_token=lambda: self._graph_access_token(access_token),
            refusal=SignInRefused,
            token_name="sign-in token",
        )
        user = services.profile_sign_in(claims=claims, groups=groups, app_roles=memberships.app_roles(claims))
        # The callback view links the new portal session to the provider's session.
        request.oidc_sid = claims.get("sid") or ""
        return user

    def _tokens(self, request, *, code: str, nonce: str | None, code_verifier: str | None) -> tuple[str, dict]:
        redirect_uri = request.build_absolute_uri(reverse("oidc_authentication_callback"))
        try:
            answer = oidc.exchange_code(code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
        except oidc.ProviderUnavailable as error:
            raise SignInRefused(
                "Your identity provider could not be reached. Try again in a minute.", status=503, reason=str(error)
            ) from error
        except oidc.TokenRequestRejected as error:
            raise SignInRefused(
                "Your identity provider did not accept this sign-in (the code was already used or has expired). "
                "Sign in again.",
                reason=f"token endpoint refused the code: {error}",
            ) from error
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused(
                "Your identity provider sent no ID token. Sign in again.", reason="token answer has no id_token"
            )
        claims = verify_id_token(id_token, nonce=nonce)
        return answer.get("access_token") or "", claims

    @staticmethod
    def _graph_access_token(access_token: str) -> str:
        # The access token of the sign-in is for Microsoft Graph (`User.Read` in OIDC_SCOPES).
        if not access_token:
            raise SignInRefused(
                "You are in too many groups to list in the sign-in token, and no token to read them from "
                "Microsoft Graph was issued. Ask an administrator to check the app registration.",
                status=503,
                reason="group overage without an access token",
            )
        return access_token
