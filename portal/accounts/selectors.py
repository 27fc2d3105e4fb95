"""Who a user is in Entra ID, as last read at sign-in: groups, app roles, admin power."""

import json
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

from portal.core.clock import now
from portal.core.db import Compiled


def _profile(user):
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "profile", None)


def user_groups(user) -> set[str]:
    """Return the Entra group object IDs of `user` (empty for anonymous users)."""
    profile = _profile(user)
    return set(profile.groups) if profile else set()


def user_app_roles(user) -> set[str]:
    """Return the Entra app role values of `user`."""
    profile = _profile(user)
    return set(profile.app_roles) if profile else set()


def is_application(user) -> bool:
    """Return whether `user` is an application (a service principal calling the API), not a person."""
    profile = _profile(user)
    return bool(profile and profile.is_application)


def is_portal_admin(user) -> bool:
    """Return whether `user` is a portal admin through a group or app role named in settings."""
    return bool(
        user_groups(user) & set(settings.PORTAL_ADMIN_GROUPS)
        or user_app_roles(user) & set(settings.PORTAL_ADMIN_APP_ROLES)
    )


def memberships_are_fresh(user) -> bool:
    """Return whether the memberships of `user` were read recently enough to decide on them."""
    profile = _profile(user)
    if profile is None or profile.groups_read_at is None:
        return False
    return now() - profile.groups_read_at <= timedelta(seconds=settings.GROUPS_MAX_AGE_SECONDS)


def is_approver(user) -> bool:
    """Return whether `user` is in the approver groups of at least one catalog role."""
    groups = user_groups(user)
    if not groups:
        return False
    # The catalog lives in the access app, which depends on this one: look it up at call time.
    try:
        apps.get_model("access", "AccessRole")
    except LookupError:
        return False
    return _APPROVES_ANY.first(groups=[json.dumps([group]) for group in sorted(groups)]) is not None


def _approves_any(groups: list[str]) -> QuerySet:
    """Return a role whose approver groups contain one of `groups`, each given as a one-item JSON array: `@>`,
    as `approver_groups__contains=[group]` asks it for one group, for any number of them in one SQL."""
    access_role = apps.get_model("access", "AccessRole")
    contains_any = RawSQL(
        '"access_accessrole"."approver_groups" @> ANY(%s::jsonb[])', (groups,), output_field=BooleanField()
    )
    return access_role.objects.filter(contains_any).only("pk")[:1]


# Asked on every page (the navigation): compiled once, whatever the number of groups.
_APPROVES_ANY = Compiled(_approves_any, groups=list[str])


def is_approver_in(request) -> bool:
    """Return `is_approver` of the request's user, asked once per request (both navigations ask it)."""
    if not hasattr(request, "_latchkey_is_approver"):
        request._latchkey_is_approver = is_approver(request.user)
    return request._latchkey_is_approver


def profiles_with_upn(upn: str, **narrower) -> list:
    """Return at most two profiles whose UPN is `upn` (in any case): enough to tell one person from several.

    A UPN may be reused (a person who left, a guest of another tenant), so it names a person only when
    exactly one profile has it; `narrower` filters further (e.g. active people only).
    """
    profiles = apps.get_model("accounts", "Profile").objects.select_related("user")
    return list(profiles.filter(upn__iexact=upn, **narrower)[:2])
