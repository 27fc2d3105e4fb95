"""The portal's statements are prepared on each connection once they repeat: PostgreSQL plans them once."""

import pytest
from django.db import connection

from portal.access.models import AccessRole
from portal.core import health
from portal.settings import PREPARE_AFTER

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def _prepared(column: str) -> list[str]:
    """Return the SQL of the statements prepared on this connection that read the slug and `column` of roles."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        shape = f'SELECT "access_accessrole"."slug" AS "slug", "access_accessrole"."{column}" AS "{column}" FROM'
        return [row[0] for row in cursor.fetchall() if row[0].startswith(shape)]


def _role_read(slug: str, column: str) -> list[tuple]:
    # Each test reads a column of its own: the connection, and what it prepared, outlive a test.
    return list(AccessRole.objects.filter(slug=slug).values_list("slug", column))


def test_a_statement_is_prepared_once_it_repeats_and_answers_as_before(catalog):
    slugs = sorted(AccessRole.objects.values_list("slug", flat=True))[:2]
    expected = {slug: AccessRole.objects.get(slug=slug).max_duration_minutes for slug in slugs}

    answers = [_role_read(slugs[number % 2], "max_duration_minutes") for number in range(PREPARE_AFTER + 1)]

    prepared = _prepared("max_duration_minutes")
    # One statement for both slugs: the values go apart from the SQL, which holds a placeholder.
    assert len(prepared) == 1, prepared
    assert "$1" in prepared[0]
    assert answers == [[(slugs[number % 2], expected[slugs[number % 2]])] for number in range(PREPARE_AFTER + 1)]


def test_a_statement_run_fewer_times_is_not_prepared(catalog):
    for _ in range(PREPARE_AFTER - 1):
        _role_read("orders-readwrite", "default_duration_minutes")

    assert _prepared("default_duration_minutes") == []


def test_the_database_check_sets_its_timeout_with_a_bound_parameter():
    # A parameter cannot go into `SET` once parameters are bound by the server: the check must still answer.
    check = health.check_database()

    assert check.ok, check.detail
