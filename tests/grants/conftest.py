"""Grants end to end: the real OpenBao, PostgreSQL, Redis and a Celery worker on the test database.

The fixtures (`people`, `catalog`, `worker`, `beat`, ...) come from the `tests.support` plugins;
the helpers live in `tests.support.grants` and are named here for the tests of this folder.
"""

from tests.support.grants import (  # noqa: F401
    WHY,
    can_log_in,
    client_for,
    grant_for,
    live_tokens_of,
    reveal,
    wait_for_state,
)
