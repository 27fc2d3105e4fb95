"""Move the portal's clock in a test: `with clock_at(moment) as clock: ...; clock.advance(timedelta(...))`."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from portal.core import clock as portal_clock


class MovableClock:
    """A clock that stands still at `at` until the test sets or advances it."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> datetime:
        self.at += by
        return self.at


@contextmanager
def clock_at(at: datetime | None = None) -> Iterator[MovableClock]:
    """Stop the portal's clock at `at` (default: the real time now) for the block; yield it to move it on."""
    moved = MovableClock(at or portal_clock.now())
    previous, portal_clock._source = portal_clock._source, moved
    try:
        yield moved
    finally:
        portal_clock._source = previous
