"""Fault scenarios against the real processes; each ends by checking that nothing was lost or leaked.

Every password revealed during the suite is remembered (in memory only) so that the
database dump, Redis and the logs can be searched for it, after each scenario and at the end.
"""

import base64
import json
import logging
import subprocess
import uuid

import pytest
import redis
from django.core.management import call_command

from portal.devstack import tenant
from portal.devstack.stack import POSTGRES_BIN_PATH
from portal.logging import ContextFilter, JsonFormatter, RedactSecretsFilter
from tests.conftest import TEST_DATABASE
from tests.support.grants import reveal
from tests.support.personas import make_person

ISSUED_PASSWORDS: list[str] = []
LOG_LINES: list[str] = []


class _Capture(logging.Handler):
    """Keep every log line exactly as the portal's console handler would write it."""

    def __init__(self):
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.addFilter(ContextFilter())
        self.addFilter(RedactSecretsFilter())

    def emit(self, record):
        LOG_LINES.append(self.format(record))


@pytest.fixture(scope="package", autouse=True)
def captured_logs():
    """Capture every log line of this process while the fault scenarios run (and only then)."""
    handler = _Capture()
    logging.getLogger().addHandler(handler)
    yield LOG_LINES
    logging.getLogger().removeHandler(handler)


def engineer(name: str, *groups: str):
    """Create one more person of the demo tenant, in the named demo groups."""
    return make_person(
        upn=f"{name}@contoso.example",
        oid=str(uuid.uuid4()),
        display_name=name,
        group_ids=[tenant.GROUPS[group] for group in groups],
    )


def analytics_reader(number: int):
    """Create one more engineer in analytics-readers (one open request per person and role)."""
    return engineer(f"reader{number}", "analytics-readers")


def reveal_and_remember(user, request_id: int) -> dict:
    """Reveal a grant's credentials as `user`; remember the password for the leak scans."""
    body = reveal(user, request_id)
    ISSUED_PASSWORDS.append(body["password"])
    return body


def database_dump(stack) -> str:
    result = subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_dump"), "--data-only", "--dbname", stack.database_url(TEST_DATABASE)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout


def _readable(value: bytes) -> list[str]:
    """Return the value, and the decoded body when it is a Celery message (its body is base64)."""
    texts = [repr(value)]
    try:
        message = json.loads(value)
        texts.append(repr(base64.b64decode(message["body"])))
    except (ValueError, TypeError, KeyError):
        pass
    return texts


def redis_contents(stack) -> str:
    """Return every key of every Redis database with its value, as text."""
    base = stack.redis_url.rsplit("/", 1)[0]
    parts = []
    for name in redis.Redis.from_url(f"{base}/0").info("keyspace"):
        db = redis.Redis.from_url(f"{base}/{int(name[2:])}")
        for key in db.scan_iter(count=1000):
            parts.append(repr(key))
            kind = db.type(key)
            if kind == b"list":
                values = db.lrange(key, 0, -1)
            elif kind == b"hash":
                values = [item for pair in db.hgetall(key).items() for item in pair]
            elif kind == b"set":
                values = list(db.smembers(key))
            elif kind == b"zset":
                values = db.zrange(key, 0, -1)
            elif kind == b"string":
                values = [db.get(key)]
            else:
                values = [db.dump(key)]
            for value in values:
                parts += _readable(value)
    return "\n".join(parts)


def process_logs(stack) -> str:
    """Return what every stack process wrote (workers and beat log JSON lines, e-mails go to their output)."""
    return "\n".join(path.read_text(errors="replace") for path in sorted(stack.log_dir.glob("*")) if path.is_file())


def leaked(passwords: list[str], text: str) -> list[str]:
    return [password for password in passwords if password in text]


@pytest.fixture(autouse=True)
def nothing_lost_or_leaked(request, stack):
    """After each scenario: the audit chain verifies, and no password is in the database or in Redis."""
    yield
    if "transactional_db" not in request.fixturenames and "people" not in request.fixturenames:
        return
    call_command("verify_audit")
    assert not leaked(ISSUED_PASSWORDS, database_dump(stack)), "a password is in the portal database"
    assert not leaked(ISSUED_PASSWORDS, redis_contents(stack)), "a password is in Redis"


@pytest.fixture
def restore_worker(stack, portal_env):
    """Bring the shared test worker back after a test that stopped or killed it, and stop extra processes."""
    from tests.support.workers import start_test_worker

    before = set(stack.processes)
    yield
    for name in set(stack.processes) - before:
        stack.stop_process(name)
    if "test-worker" not in stack.processes:
        start_test_worker(stack, portal_env)
