"""The one place the portal reads the time, so that tests can move the clock."""

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    """Return the current time (aware, UTC)."""
    return timezone.now()
