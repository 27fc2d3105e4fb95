"""The one rule a review leaves behind: a person removed from a role is not eligible for it in the portal."""

from django.db.models import BooleanField, Exists, OuterRef, Value
from django.db.models.expressions import RawSQL

from portal.core.db import Compiled
from portal.reviews.models import RoleExclusion


def excluded_from_role(role, user) -> bool:
    """Return whether a review removed `user` from `role` (Entra may still list them in the group)."""
    return role.pk in roles_excluded_for(user)


def roles_excluded_for(user) -> set[int]:
    """Return the IDs of every role a review removed `user` from, in one query (for a list of roles too)."""
    return roles_excluded_for_each([user])[user.pk]


def excluded_by_review(user):
    """Return a query expression: whether a review removed `user` from the role of the row (to annotate roles).

    The same rule as `roles_excluded_for`, read with the roles themselves instead of in a query of its own.
    """
    profile = getattr(user, "profile", None)
    if profile is None:
        return Value(False)
    return excluded_by_review_of(tid=profile.tid, oid=profile.oid)


def excluded_by_review_of(*, tid: str, oid: str):
    """Return a query expression: whether a review removed the person `tid`/`oid` from the role of the row."""
    return Exists(RoleExclusion.objects.filter(role=OuterRef("pk"), tid=tid, oid=oid))


def requester_excluded_by_review():
    """Return a query expression: whether a review removed the requester of the row (a request) from its role.

    The same rule as `roles_excluded_for_each`, read with the requests themselves (to annotate requests).
    """
    return Exists(
        RoleExclusion.objects.filter(
            role=OuterRef("role_id"), tid=OuterRef("requester__profile__tid"), oid=OuterRef("requester__profile__oid")
        )
    )


def roles_excluded_for_each(users) -> dict[int, set[int]]:
    """Return, by user ID, the IDs of every role a review removed each of `users` from, in one query."""
    profiles = {user.pk: profile for user in users if (profile := getattr(user, "profile", None)) is not None}
    excluded = {user.pk: set() for user in users}
    if not profiles:
        return excluded
    identities = list(profiles.values())
    rows = _EXCLUSIONS_OF(tids=[p.tid for p in identities], oids=[p.oid for p in identities])
    by_identity = {(profile.tid, profile.oid): user_id for user_id, profile in profiles.items()}
    for row in rows:
        excluded[by_identity[(row.tid, row.oid)]].add(row.role_id)
    return excluded


def _exclusions_of(*, tids: list[str], oids: list[str]):
    # The people as pairs: the i-th tenant ID with the i-th object ID.
    people = RawSQL(
        '("reviews_roleexclusion"."tid", "reviews_roleexclusion"."oid") IN '
        "(SELECT * FROM unnest(%s::text[], %s::text[]))",
        (tids, oids),
        output_field=BooleanField(),
    )
    return RoleExclusion.objects.filter(people).only("tid", "oid", "role_id")


# Read for every page and every request, for one person or many: its SQL compiled once.
_EXCLUSIONS_OF = Compiled(_exclusions_of, tids=list[str], oids=list[str])
