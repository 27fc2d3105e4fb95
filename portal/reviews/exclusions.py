"""The one rule a review leaves behind: a person removed from a role is not eligible for it in the portal."""

from portal.reviews.models import RoleExclusion


def excluded_from_role(role, user) -> bool:
    """Return whether a review removed `user` from `role` (Entra may still list them in the group)."""
    return role.pk in roles_excluded_for(user)


def roles_excluded_for(user) -> set[int]:
    """Return the IDs of every role a review removed `user` from, in one query (for a list of roles too)."""
    profile = getattr(user, "profile", None)
    if profile is None:
        return set()
    return set(RoleExclusion.objects.filter(tid=profile.tid, oid=profile.oid).values_list("role_id", flat=True))
