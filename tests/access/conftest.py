"""The access app's tests use the shared fixtures of `tests.support.fixtures` (personas, catalog, eager tasks)."""

from tests.support.fixtures import DEMO_CATALOG  # noqa: F401
from tests.support.personas import make_user  # noqa: F401
