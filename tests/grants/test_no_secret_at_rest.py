"""After a full issue and reveal, the password is nowhere: not in the portal's database, Redis or the logs."""

import logging
import subprocess

import pytest
import redis
from django.conf import settings

from portal.access.models import AccessRequest
from portal.devstack.stack import POSTGRES_BIN_PATH
from tests.conftest import TEST_DATABASE
from tests.grants.conftest import can_log_in, grant_for, reveal, wait_for_state

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _portal_dump(stack) -> bytes:
    return subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_dump"), "--dbname", stack.database_url(TEST_DATABASE)],
        check=True,
        capture_output=True,
    ).stdout


def _redis_contents() -> bytes:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    parts = []
    for key in client.scan_iter(count=1000):
        parts.append(key)
        kind = client.type(key)
        if kind == b"string":
            parts.append(client.get(key) or b"")
        elif kind == b"list":
            parts.extend(client.lrange(key, 0, -1))
        elif kind == b"hash":
            for field, value in client.hgetall(key).items():
                parts += [field, value]
        elif kind == b"set":
            parts.extend(client.smembers(key))
        elif kind == b"zset":
            parts.extend(client.zrange(key, 0, -1))
    return b"\n".join(parts)


def test_the_password_and_the_wrapping_token_are_never_at_rest_in_plain_text(
    stack, worker, beat, people, catalog, caplog
):
    caplog.set_level(logging.DEBUG)
    grant = wait_for_state(grant_for(people["alice"], "orders-readwrite", approver=people["bob"]).pk, "active")
    wrapping_token = AccessRequest.objects.get(pk=grant.pk).wrapped_secret.unseal()
    assert wrapping_token
    assert wrapping_token.encode() not in _portal_dump(stack)

    body = reveal(people["alice"], grant.pk)
    assert can_log_in(body)
    password = body["password"].encode()

    assert password not in _portal_dump(stack)
    assert _redis_contents()
    assert password not in _redis_contents()
    for name in ("test-worker", "test-beat"):
        assert password not in (stack.log_dir / f"{name}.log").read_bytes()
    assert body["password"] not in caplog.text
    assert wrapping_token not in caplog.text
