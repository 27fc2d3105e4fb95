"""Change the audit table as someone with the database's owner role would: switch off its trigger first."""

from contextlib import contextmanager

TABLE = "access_auditevent"


@contextmanager
def trigger_off():
    """Switch off the table's append-only trigger inside the block, as its owner can."""
    from django.db import connection

    with connection.cursor() as cursor:
        # ALTER TABLE waits for no deferred check: run the foreign key checks this transaction still owes now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def tamper(sql: str, params=()) -> None:
    """Run `sql` against the audit table past its trigger."""
    from django.db import connection

    with trigger_off(), connection.cursor() as cursor:
        cursor.execute(sql, params)
