"""Empty the database after a transactional test without racing the real worker.

The test worker and beat share the test database. A task the test left running (an extension
still issuing, a scheduled revocation firing) can hold a row lock while the flush's TRUNCATE
waits for the table, and PostgreSQL then ends one of them as a deadlock. The flush first waits
for the other sessions to be between statements, and is tried again if it still loses a race.
"""

import time

from django.core.management.base import CommandError
from django.db import OperationalError, connections
from django.test.testcases import TransactionTestCase

_ATTEMPTS = 4
_QUIET_WAIT_SECONDS = 15.0


def _other_sessions_busy(alias: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'"
        )
        return cursor.fetchone()[0]


def _wait_until_quiet(alias: str) -> None:
    deadline = time.monotonic() + _QUIET_WAIT_SECONDS
    while _other_sessions_busy(alias) and time.monotonic() < deadline:
        time.sleep(0.05)


def _lost_a_race(error: CommandError) -> bool:
    cause = error.__cause__
    while cause is not None:
        if isinstance(cause, OperationalError) and "deadlock detected" in str(cause):
            return True
        cause = cause.__cause__
    return False


def install() -> None:
    """Make every transactional test's flush wait for the worker and survive a deadlock."""
    flush = TransactionTestCase._fixture_teardown

    def _fixture_teardown(self):
        for attempt in range(1, _ATTEMPTS + 1):
            for alias in self._databases_names(include_mirrors=False):
                _wait_until_quiet(alias)
            try:
                return flush(self)
            except CommandError as error:
                if attempt == _ATTEMPTS or not _lost_a_race(error):
                    raise
                time.sleep(0.2 * attempt)

    TransactionTestCase._fixture_teardown = _fixture_teardown
