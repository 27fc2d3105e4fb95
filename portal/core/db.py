"""What the apps' services share about the database, and how a web request or a task keeps its connection."""

import threading
import time

from django.core import signals
from django.db import connections
from django.db.models import Model, QuerySet

from portal.core.errors import NotFound


def lock_row(queryset: QuerySet, pk: int, *, missing: str) -> Model:
    """Return row `pk` of `queryset`, locked for the rest of the transaction; raise NotFound(`missing`) if absent.

    Only the row itself is locked (`of=("self",)`), not the rows it is joined with for reading, so that a
    transition never waits on, or holds, the role or the person it names.
    """
    found = queryset.select_for_update(of=("self",)).filter(pk=pk).first()
    if found is None:
        raise NotFound(missing)
    return found


# A connection that served a web request or a task without error this recently is not health-checked again
# before the next (CONN_HEALTH_CHECKS costs a round trip each: a tenth of a simple API call's). Should the
# database have gone in between, the next one fails on its first query, the connection is dropped at its end,
# and the one after it opens a new connection.
HEALTHY_FOR_SECONDS = 1.0
_clean_ends = threading.local()  # Django's connections are per thread: so are the moments they ended clean


def note_clean_ends(**kwargs) -> None:
    """After Django has closed the broken and old connections at the end of a request or task, note which are left
    clean: an error since the last commit makes Django check the connection there and then (`health_check_done`)."""
    _clean_ends.at = {
        db.alias: time.monotonic()
        for db in connections.all(initialized_only=True)
        if db.connection is not None and not db.health_check_done
    }


def skip_recent_health_checks(**kwargs) -> None:
    """After Django has readied the connections for a request or task, spare the health check of those that ended
    clean within HEALTHY_FOR_SECONDS."""
    ended = getattr(_clean_ends, "at", {})
    for db in connections.all(initialized_only=True):
        if db.connection is not None and time.monotonic() - ended.get(db.alias, float("-inf")) < HEALTHY_FOR_SECONDS:
            db.health_check_done = True


# After Django's own receiver, `close_old_connections`, which was connected when `django.db` was imported.
signals.request_started.connect(skip_recent_health_checks, dispatch_uid="portal.core.db.skip_recent_health_checks")
signals.request_finished.connect(note_clean_ends, dispatch_uid="portal.core.db.note_clean_ends")
