"""Guards for views and API endpoints that request or approve: they need fresh Entra memberships."""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from portal.accounts.errors import MembershipsStale
from portal.accounts.selectors import memberships_are_fresh

STALE_MESSAGE = "Your group memberships were read too long ago. Sign in again to refresh them."


def ensure_fresh_memberships(user) -> None:
    """Raise `MembershipsStale` unless the memberships of `user` are fresh enough to decide on."""
    if not memberships_are_fresh(user):
        raise MembershipsStale(STALE_MESSAGE)


def require_fresh_memberships(view):
    """Decorate a view that requests or approves: a stale (or anonymous) user must sign in again.

    Pages redirect to the sign-in page; DRF function views (under `@api_view`) answer
    401 `{"error": "memberships_stale", ...}` through the API's error handler.
    """

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if isinstance(request, Request):
            if not request.user.is_authenticated:
                return view(request, *args, **kwargs)  # DRF's own permission check answers 401.
            ensure_fresh_memberships(request.user)
        elif not memberships_are_fresh(request.user):
            if request.user.is_authenticated:
                messages.warning(request, STALE_MESSAGE)
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return view(request, *args, **kwargs)

    return guarded


class HasFreshMemberships(BasePermission):
    """Allow signed-in users whose memberships are fresh; a stale user gets 401 `memberships_stale`."""

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        ensure_fresh_memberships(request.user)
        return True
