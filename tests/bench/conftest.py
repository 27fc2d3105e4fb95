"""The benchmark's tests: the demo personas and catalog of the access tests, and many more engineers."""

from datetime import datetime, timedelta

import pytest

from tests.support.personas import make_user


def active_grants(users, role, *, ends_at: datetime, minutes: int, **fields) -> list[int]:
    """Create an active grant of `role` for each user, running `minutes` until `ends_at`; return their IDs."""
    from portal.access.models import AccessRequest

    return [
        AccessRequest.objects.create(
            role=role,
            requester=user,
            state=AccessRequest.State.ACTIVE,
            justification="Investigate the late orders of ticket OPS-12",
            duration_minutes=minutes,
            starts_at=ends_at - timedelta(minutes=minutes),
            ends_at=ends_at,
            **fields,
        ).pk
        for user in users
    ]


@pytest.fixture
def engineers(db):
    """Return a function that creates `n` more engineers, in alice's groups."""

    def create(n: int, start: int = 0) -> list:
        from portal.accounts.models import Profile

        made = []
        for number in range(start, start + n):
            user = make_user("alice")
            user.username = f"engineer-{number}@contoso.example"
            user.save()
            Profile.objects.filter(user=user).update(oid=f"e0000000-0000-4000-8000-{number:012d}", upn=user.username)
            made.append(user)
        return made

    return create
