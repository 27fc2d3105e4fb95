"""People of the demo tenant, straight in the database, as sign-in would leave them (memberships just read)."""

from portal.devstack import tenant


def make_person(*, upn: str, oid: str, display_name: str, group_ids: list[str]):
    """Create a user and the profile that sign-in would give them."""
    # Imported here: conftest files load before the harness has configured Django.
    from django.contrib.auth import get_user_model

    from portal.accounts.models import Profile
    from portal.core.clock import now

    user = get_user_model().objects.create(username=upn, email=upn, first_name=display_name)
    Profile.objects.create(
        user=user,
        tid=tenant.TENANT_ID,
        oid=oid,
        upn=upn,
        display_name=display_name,
        email=upn,
        groups=group_ids,
        groups_read_at=now(),
    )
    return user


def make_user(name: str):
    """Create the demo user `name` (alice, bob, carol, dave, erin)."""
    demo = tenant.USERS[name]
    return make_person(upn=demo.upn, oid=demo.oid, display_name=demo.display_name, group_ids=demo.group_ids)
