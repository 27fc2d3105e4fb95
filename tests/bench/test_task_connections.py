"""Web requests and tasks keep their database connection; one that served the last a moment ago is not checked again."""

import subprocess
import sys
from types import SimpleNamespace

import pytest
from celery.signals import task_postrun, task_prerun
from django.core.signals import request_finished, request_started
from django.db import DatabaseError, close_old_connections, connection

from portal.access import tasks
from portal.core import db

pytestmark = pytest.mark.django_db(transaction=True)

TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))


def task_ends() -> None:
    tasks._close_old_connections(sender=TASK, signal=task_postrun)


def task_starts() -> None:
    tasks._close_old_connections(sender=TASK, signal=task_prerun)


def request_ends() -> None:
    request_finished.send(sender=None)


def request_starts() -> None:
    request_started.send(sender=None, environ={})


@pytest.fixture(autouse=True)
def receivers_in_their_order():
    """Django's test client connects Django's own receiver again after each request, after the portal's: put it
    back first, where it is in a process that serves requests (the last test checks that order in one)."""
    for signal, ours in ((request_started, db.skip_recent_health_checks), (request_finished, db.note_clean_ends)):
        signal.disconnect(dispatch_uid=f"portal.core.db.{ours.__name__}")
        signal.disconnect(close_old_connections)
        signal.connect(close_old_connections)
        signal.connect(ours, dispatch_uid=f"portal.core.db.{ours.__name__}")


UNITS = pytest.mark.parametrize(("ends", "starts"), [(task_ends, task_starts), (request_ends, request_starts)])


def health_checks_before_a_query() -> int:
    checks = []
    is_usable = connection.is_usable
    connection.is_usable = lambda: checks.append(1) or is_usable()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        del connection.is_usable
    return len(checks)


@UNITS
def test_a_task_or_request_right_after_a_clean_one_skips_the_health_check(ends, starts):
    connection.ensure_connection()
    ends()
    starts()

    assert health_checks_before_a_query() == 0


@UNITS
def test_a_task_or_request_long_after_the_last_one_checks_the_connection_first(monkeypatch, ends, starts):
    connection.ensure_connection()
    ends()
    monkeypatch.setattr(db, "HEALTHY_FOR_SECONDS", 0.0)
    starts()

    assert health_checks_before_a_query() == 1


@UNITS
def test_a_task_or_request_after_one_that_hit_a_database_error_checks_the_connection_first(ends, starts):
    connection.ensure_connection()
    with pytest.raises(DatabaseError), connection.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM no_such_table")
    ends()
    starts()

    assert health_checks_before_a_query() == 1


def test_in_a_fresh_process_a_request_after_a_clean_one_skips_the_health_check():
    """Where no test client has reordered the receivers: Django readies the connection, then the check is spared."""
    script = f"""
import django
django.setup()
from django.core.signals import request_finished, request_started
from django.db import connection
from {__name__} import health_checks_before_a_query
connection.ensure_connection()
request_finished.send(sender=None)
request_started.send(sender=None, environ={{}})
print(health_checks_before_a_query())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)

    assert (done.returncode, done.stdout.strip()) == (0, "0"), done.stderr[-2000:]
