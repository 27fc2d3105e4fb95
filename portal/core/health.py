"""Readiness and health: Vault, Redis, the database, and the last signs of life of the worker and sweeper."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from portal.core import clock
from portal.core.models import Heartbeat
from portal.integrations import vault

# Seconds any one check may take: a probe that hangs is worse than one that fails.
CHECK_TIMEOUT_SECONDS = 2

# A worker heartbeat older than this means no worker has taken a task off the queue lately.
WORKER_STALE_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class Check:
    """The result of one check; `required` checks decide readiness, the others only inform."""

    name: str
    ok: bool
    detail: str
    required: bool
    last_seen: datetime | None = None


def check_vault() -> Check:
    """Check that Vault is reachable and unsealed, and that the portal's token is valid."""
    state = vault.health(timeout_seconds=CHECK_TIMEOUT_SECONDS)
    ok = state["reachable"] and state["sealed"] is False and state["token_valid"]
    detail = "reachable, unsealed, token valid" if ok else state.get("detail", "not ready")
    return Check(name="vault", ok=ok, detail=detail, required=True)


def check_redis() -> Check:
    """Check that the Celery broker answers a ping."""
    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL,
        socket_timeout=CHECK_TIMEOUT_SECONDS,
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    except redis.RedisError as error:
        # The class name only: the message could repeat the broker URL, password included.
        return Check(name="redis", ok=False, detail=f"no answer ({type(error).__name__})", required=True)
    finally:
        client.close()
    return Check(name="redis", ok=True, detail="answers", required=True)


def check_database() -> Check:
    """Check that the portal's database answers a query."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # `set_config` rather than `SET LOCAL`: a parameter cannot go into a SET statement bound server-side.
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{CHECK_TIMEOUT_SECONDS}s"])
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        return Check(name="database", ok=False, detail=f"no answer ({type(error).__name__})", required=True)
    return Check(name="database", ok=True, detail="answers", required=True)


def check_heartbeat(*, name: str, stale_after: timedelta) -> Check:
    """Check that the component `name` recorded a heartbeat within `stale_after`."""
    try:
        beat = Heartbeat.objects.filter(name=name).first()
    except DatabaseError as error:
        return Check(name=name, ok=False, detail=f"unknown ({type(error).__name__})", required=False)
    if beat is None:
        return Check(name=name, ok=False, detail="never seen", required=False)
    age = clock.now() - beat.at
    ok = age <= stale_after
    detail = f"last seen {int(age.total_seconds())} s ago" + ("" if ok else f" (stale after {stale_after})")
    return Check(name=name, ok=ok, detail=detail, required=False, last_seen=beat.at)


def sweeper_stale_after() -> timedelta:
    """Return how old the sweeper's last run may be: a few missed runs, at least half a minute."""
    return timedelta(seconds=max(30, 10 * settings.SWEEPER_INTERVAL_SECONDS))


def readiness_checks() -> list[Check]:
    """Run the checks that decide whether the portal can serve: Vault, Redis, the database."""
    return [check_vault(), check_redis(), check_database()]


def _monotonic() -> float:
    """Return the clock that ages the readiness answer (a seam: tests move it instead of waiting)."""
    return time.monotonic()


_readiness_lock = threading.Lock()
_readiness: tuple[float, list[Check]] | None = None


def cached_readiness_checks() -> list[Check]:
    """Return the readiness checks, run at most once per `READYZ_CACHE_SECONDS` in this process.

    `/readyz` answers anyone: without this, a flood of anonymous probes would be a flood of calls to Vault,
    Redis and the database. Callers that arrive while a check runs wait for it and share its answer.
    """
    global _readiness
    with _readiness_lock:
        if _readiness is not None and _monotonic() - _readiness[0] < settings.READYZ_CACHE_SECONDS:
            return _readiness[1]
        checks = readiness_checks()
        _readiness = (_monotonic(), checks)
        return checks


def clear_readiness_cache() -> None:
    """Forget the last readiness answer, so that the next probe checks again."""
    global _readiness
    with _readiness_lock:
        _readiness = None


def run_checks() -> list[Check]:
    """Run every check and return their results, required ones first."""
    return [
        *readiness_checks(),
        check_heartbeat(name="worker", stale_after=WORKER_STALE_AFTER),
        check_heartbeat(name="sweeper", stale_after=sweeper_stale_after()),
    ]


def is_ready(checks: list[Check]) -> bool:
    """Return whether every required check passed."""
    return all(check.ok for check in checks if check.required)
