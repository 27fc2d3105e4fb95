"""Tasks keep their database connection; one that served the last task a moment ago is not health-checked again."""

from types import SimpleNamespace

import pytest
from celery.signals import task_postrun, task_prerun
from django.db import DatabaseError, connection

from portal.access import tasks

pytestmark = pytest.mark.django_db(transaction=True)

TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))


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


def test_a_task_right_after_a_clean_one_skips_the_health_check():
    connection.ensure_connection()
    tasks._close_old_connections(sender=TASK, signal=task_postrun)
    tasks._close_old_connections(sender=TASK, signal=task_prerun)

    assert health_checks_before_a_query() == 0


def test_a_task_long_after_the_last_one_checks_the_connection_first(monkeypatch):
    connection.ensure_connection()
    tasks._close_old_connections(sender=TASK, signal=task_postrun)
    monkeypatch.setattr(tasks, "HEALTHY_FOR_SECONDS", 0.0)
    tasks._close_old_connections(sender=TASK, signal=task_prerun)

    assert health_checks_before_a_query() == 1


def test_a_task_after_one_that_hit_a_database_error_checks_the_connection_first():
    connection.ensure_connection()
    with pytest.raises(DatabaseError), connection.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM no_such_table")
    tasks._close_old_connections(sender=TASK, signal=task_postrun)
    tasks._close_old_connections(sender=TASK, signal=task_prerun)

    assert health_checks_before_a_query() == 1
