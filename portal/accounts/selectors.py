"""Who a user is in Entra ID, as last read at sign-in: groups, app roles, admin power."""

from datetime import timedelta

from django.conf import settings

from portal.core.clock import now


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
