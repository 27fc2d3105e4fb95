"""The one rule a review leaves behind: a person removed from a role is not eligible for it in the portal."""

from django.db.models import Exists, OuterRef, Value

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


def role_excluded_for(user):
    """Return a query expression: whether a review removed `user` from the role of the row (to annotate roles).

    The same rule as `roles_excluded_for`, read with the roles themselves instead of in a query of its own.
    """
    profile = getattr(user, "profile", None)
    if profile is None:
        return Value(False)
    return Exists(RoleExclusion.objects.filter(role=OuterRef("pk"), tid=profile.tid, oid=profile.oid))
