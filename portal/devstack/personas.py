"""People of the demo tenant, straight in the database, as sign-in would leave them (memberships just read).

One helper for the tests, the benchmarks and the seeding: a person is a Django user and the
profile sign-in gives them, keyed by the Entra tenant and object ID.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import tenant


@dataclass(frozen=True)
class Person:
    """Who to create: the sign-in name (UPN), the Entra object ID, the display name and the group IDs."""

    upn: str
    oid: str
    display_name: str
    group_ids: tuple[str, ...] | list[str] = ()


def make_people(people: list[Person], *, batch_size: int = 1000) -> list:
    """Create a user and the profile that sign-in would give them for each of `people`; return the users in order."""
    # Imported here: the test harness and the benchmark import this module before Django is set up.
    from django.contrib.auth import get_user_model

    from portal.accounts.models import Profile
    from portal.core.clock import now

    User = get_user_model()
    users = User.objects.bulk_create(
        [User(username=person.upn, email=person.upn, first_name=person.display_name) for person in people],
        batch_size=batch_size,
    )
    read_at = now()
    Profile.objects.bulk_create(
        [
            Profile(
                user=user,
                tid=tenant.TENANT_ID,
                oid=person.oid,
                upn=person.upn,
                display_name=person.display_name,
                email=person.upn,
                groups=list(person.group_ids),
                groups_read_at=read_at,
            )
            for user, person in zip(users, people, strict=True)
        ],
        batch_size=batch_size,
    )
    return users


def make_person(*, upn: str, oid: str, display_name: str, group_ids: list[str]):
    """Create one user and the profile that sign-in would give them."""
    return make_people([Person(upn=upn, oid=oid, display_name=display_name, group_ids=group_ids)])[0]


def demo_person(name: str) -> Person:
    """Return demo user `name` (alice, bob, carol, dave, erin) as a `Person`."""
    demo = tenant.USERS[name]
    return Person(upn=demo.upn, oid=demo.oid, display_name=demo.display_name, group_ids=demo.group_ids)


def make_user(name: str):
    """Create the demo user `name` (alice, bob, carol, dave, erin)."""
    return make_people([demo_person(name)])[0]


def demo_user(name: str):
    """Return the demo user `name`, created first if missing."""
    from django.contrib.auth import get_user_model

    existing = get_user_model().objects.filter(username=tenant.USERS[name].upn).first()
    return existing if existing is not None else make_user(name)
