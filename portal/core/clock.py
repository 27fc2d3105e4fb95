"""The one place the portal reads the time, so that tests can move the clock.

Every reader calls `now()`. It asks `_source`, the single point that tests replace (see
`tests/support/clock.py`): a module that bound `now` at import time follows the moved clock too.
"""

from collections.abc import Callable
from datetime import datetime

from django.utils import timezone

_source: Callable[[], datetime] = timezone.now


def now() -> datetime:
    """Return the current time (aware, UTC)."""
    return _source()
