"""Helpers for the core app's tests: demo personas signed in without going through the provider."""

import pytest

from tests.support.personas import make_user


@pytest.fixture
def sign_in(client):
    """Return a function that signs a demo persona in to the test client, with their Entra groups."""

    def sign_in(name: str):
        user = make_user(name)
        client.force_login(user)
        return user

    return sign_in
