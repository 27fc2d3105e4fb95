"""Helpers for the core app's tests: demo personas signed in without going through the provider."""

import pytest

from portal.devstack import tenant


@pytest.fixture
def sign_in(client):
    """Return a function that signs a demo persona in to the test client, with their Entra groups."""

    # Imported here: this file loads before the harness has configured Django.
    from django.contrib.auth import get_user_model

    from portal.accounts.models import Profile
    from portal.core.clock import now

    def sign_in(name: str):
        persona = tenant.USERS[name]
        user = get_user_model().objects.create_user(username=persona.oid, first_name=persona.display_name)
        Profile.objects.create(
            user=user,
            tid=tenant.TENANT_ID,
            oid=persona.oid,
            upn=persona.upn,
            display_name=persona.display_name,
            groups=persona.group_ids,
            groups_read_at=now(),
        )
        client.force_login(user)
        return user

    return sign_in
