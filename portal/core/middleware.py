"""Request ID and security headers that Django's own middleware does not set."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

from django.conf import settings

from portal.logging import bind_log_context, log_context

REQUEST_ID_HEADER = "X-Request-Id"
# A proxy's request ID is kept only when it looks like one: it ends up in logs and in Vault's audit log.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def _incoming_request_id(request) -> str:
    candidate = request.headers.get(REQUEST_ID_HEADER, "")
    if _VALID_REQUEST_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex


def _user_oid(request) -> str | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    profile = getattr(user, "profile", None)
    return getattr(profile, "oid", None)


class RequestIdMiddleware:
    """Give every request an ID (the proxy's, or a new one), log it with every event, and return it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = _incoming_request_id(request)
        with log_context(request_id=request.request_id):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Runs after AuthenticationMiddleware: the session's user is known here.
        bind_log_context(user_oid=_user_oid(request))


def content_security_policy() -> str:
    """Return the CSP: the portal's own assets only; forms may also go to the sign-in provider."""
    provider = urlsplit(settings.OIDC_ISSUER)
    provider_origin = f"{provider.scheme}://{provider.netloc}"
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'", provider_origin],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class SecurityHeadersMiddleware:
    """Set the Content Security Policy and the Permissions Policy on every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", content_security_policy())
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
        return response
