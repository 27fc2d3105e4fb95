"""Upgrading a database whose history has an unkeyed chain: it is keyed from there on, and the table is locked."""

import hashlib
import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from portal.access.audit import CHAIN_KEYED, GENESIS_HASH
from portal.access.models import AuditEvent
from portal.core.clock import now

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def upgraded_database(stack):
    """Return (manage.py runner, connection URL) of a database of its own (not named test_...), dropped after."""
    name = f"latchkey_upgrade_{secrets.token_hex(4)}"
    with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, **stack.portal_env(database=name)}

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )

    yield manage, stack.database_url(name)
    with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _write_unkeyed_history(url: str, count: int) -> None:
    """Write events as releases before the key did: each carries the SHA-256 of the one before."""
    prev = GENESIS_HASH
    with psycopg.connect(url) as conn:
        for n in range(count):
            event = AuditEvent(at=now(), actor_label="system", action="test.old", details={"n": n}, prev_hash=prev)
            prev = hashlib.sha256((prev + event.canonical()).encode()).hexdigest()
            conn.execute(
                "INSERT INTO access_auditevent (at, actor_label, action, user_agent, details, prev_hash, hash) "
                "VALUES (%s, %s, %s, '', %s, %s, %s)",
                [event.at, event.actor_label, event.action, Jsonb(event.details), event.prev_hash, prev],
            )


def test_an_unkeyed_history_is_taken_over_by_the_migration_and_verifies(upgraded_database):
    manage, url = upgraded_database
    assert manage("migrate", "access", "0003").returncode == 0
    _write_unkeyed_history(url, 3)

    migrated = manage("migrate")
    verified = manage("verify_audit")

    assert migrated.returncode == 0, migrated.stderr
    assert verified.returncode == 0, verified.stderr
    assert "intact (4 events)" in verified.stdout
    with psycopg.connect(url) as conn:
        switch = conn.execute("SELECT action, details FROM access_auditevent ORDER BY id DESC LIMIT 1").fetchone()
    assert switch[0] == CHAIN_KEYED and switch[1]["unkeyed_through"] > 0


def test_the_database_refuses_to_truncate_the_history(upgraded_database):
    manage, url = upgraded_database
    assert manage("migrate").returncode == 0
    _write_unkeyed_history(url, 1)

    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("TRUNCATE access_auditevent")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM access_auditevent").fetchone() == (1,)


def test_the_trigger_goes_when_the_migration_is_reversed(upgraded_database):
    manage, url = upgraded_database
    assert manage("migrate").returncode == 0

    reversed_ = manage("migrate", "access", "0004")

    assert reversed_.returncode == 0, reversed_.stderr
    with psycopg.connect(url) as conn:
        triggers = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'access_auditevent'::regclass AND NOT tgisinternal"
        ).fetchone()
    assert triggers == (0,)
