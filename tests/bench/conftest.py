"""The benchmark's tests: the demo personas and catalog of the access tests."""

from tests.access.conftest import alice, bob, carol, catalog  # noqa: F401
