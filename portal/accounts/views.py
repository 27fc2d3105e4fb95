"""Sign-in, sign-out and the pages that say why a sign-in was refused."""

import logging
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import auth
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from portal.accounts import oidc, services
from portal.accounts.errors import SignInRefused
from portal.core.ratelimit import rate_limited

logger = logging.getLogger(__name__)


def _safe_next(request, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def refused(request, refusal: SignInRefused) -> HttpResponse:
    """End any session and render the page that says why the sign-in was refused."""
    logger.warning("sign-in refused (%s): %s", refusal.status, refusal.reason)
    auth.logout(request)
    response = render(request, "accounts/refused.html", {"detail": refusal.detail}, status=refusal.status)
    response["Cache-Control"] = "no-store"
    return response


@never_cache
def login(request):
    """Show the "Sign in with Microsoft" page."""
    next_url = _safe_next(request, request.GET.get("next"))
    return render(request, "accounts/login.html", {"next": next_url})


class AuthenticateView(OIDCAuthenticationRequestView):
    """Send the browser to the provider's authorization endpoint, with state, nonce and PKCE (S256)."""

    def __init__(self, **kwargs):
        # The library's constructor reads endpoint settings; ours come from discovery at request time.
        View.__init__(self, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request):
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc.endpoint("authorization_endpoint")
        except oidc.ProviderUnavailable as error:
            return refused(
                request,
                SignInRefused(
                    "Your identity provider could not be reached, or its configuration does not match the portal's. "
                    "Try again in a minute, or tell an administrator.",
                    status=503,
                    reason=str(error),
                ),
            )
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """Finish the sign-in: check the state once, verify the tokens, start the session, or say why not."""

    @rate_limited("sign_in", methods=("GET",))
    def get(self, request):
        try:
            return self._sign_in(request)
        except SignInRefused as refusal:
            return refused(request, refusal)

    def _sign_in(self, request):
        if request.GET.get("error"):
            # The provider's error code only: its description may echo request parameters.
            raise SignInRefused(
                "Your identity provider did not sign you in. Sign in again, or ask an administrator for access.",
                status=403,
                reason=f"provider error {request.GET['error']!r}",
            )
        code, state = request.GET.get("code"), request.GET.get("state")
        if not code or not state:
            raise SignInRefused("This sign-in link is incomplete. Sign in again.", status=400, reason="no code/state")
        states = request.session.get("oidc_states")
        if not isinstance(states, dict) or state not in states:
            raise SignInRefused(
                "This sign-in link was already used or has expired. Sign in again.",
                reason="state unknown to this session (replayed or expired callback)",
            )
        # Forget the state before anything else, so that it can never be used twice.
        pending = states.pop(state)
        request.session.save()
        # Re-read the session after the slow token exchange, as the library does, so that
        # parallel sign-ins in other tabs keep their states.
        request.session = request.session.__class__(request.session.session_key)
        self.user = auth.authenticate(request, nonce=pending.get("nonce"), code_verifier=pending.get("code_verifier"))
        if self.user is None or not self.user.is_active:
            raise SignInRefused("Your account may not sign in to this portal.", status=403, reason="user inactive")
        return self.login_success()

    def login_success(self):
        sid = getattr(self.request, "oidc_sid", "")
        auth.login(self.request, self.user)
        if sid:
            self.request.session.save()
            services.sign_in_session_record(user=self.user, session_key=self.request.session.session_key, sid=sid)
        return redirect(self.success_url)


def provider_logout_url(request) -> str:
    """Return where the browser goes after the portal session ends: the provider's end_session_endpoint."""
    after = request.build_absolute_uri(settings.LOGOUT_REDIRECT_URL)
    try:
        end_session = oidc.endpoint("end_session_endpoint")
    except oidc.ProviderUnavailable:
        logger.warning("provider unreachable at sign-out: the provider session stays open")
        return settings.LOGOUT_REDIRECT_URL
    if not end_session:
        return settings.LOGOUT_REDIRECT_URL
    query = urlencode({"client_id": settings.OIDC_RP_CLIENT_ID, "post_logout_redirect_uri": after})
    return f"{end_session}{'&' if '?' in end_session else '?'}{query}"


@require_GET
@never_cache
@xframe_options_exempt
def front_channel_logout(request):
    """End the portal sessions of the provider session `sid` (the provider loads this in a hidden frame)."""
    issuer = request.GET.get("iss")
    sid = request.GET.get("sid", "")
    if issuer is not None and issuer.rstrip("/") != settings.OIDC_ISSUER:
        return HttpResponse("Unknown issuer.", status=400, content_type="text/plain")
    # Only a sid ends sessions: a bare GET that signed out "this browser" would let any
    # page sign people out with an image tag.
    if not sid:
        return HttpResponse("The sid parameter is required.", status=400, content_type="text/plain")
    ended = services.sign_in_sessions_end(sid=sid)
    response = HttpResponse(f"Signed out of {ended} session(s).", content_type="text/plain")
    # The provider loads this URL in a hidden frame of its own sign-out page: let it, and only it.
    provider = urlsplit(settings.OIDC_ISSUER)
    response["Content-Security-Policy"] = f"default-src 'none'; frame-ancestors {provider.scheme}://{provider.netloc}"
    return response
