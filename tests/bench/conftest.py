"""The benchmark's tests: the demo personas and catalog of the access tests, and many more engineers."""

import pytest

from tests.support.personas import make_user


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
