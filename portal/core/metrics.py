"""Prometheus metrics, read from the database and the broker at scrape time.

The database is the source of truth, so every web process answers the same figures
without a shared multi-process registry. Vault errors are the one counter kept
outside the database: in the broker's Redis, best effort.
"""

import logging

import redis
from django.conf import settings
from django.db import connection
from django.db.models import Count
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from portal.core import clock

logger = logging.getLogger(__name__)

VAULT_ERRORS_KEY = "latchkey:metrics:vault_errors"
# Seconds: issuing takes well under a second when all is well; minutes mean Vault was down.
ISSUE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
# Seconds after the end of the window until the grant was revoked.
LATENESS_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _broker() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1, socket_connect_timeout=1)


def count_vault_error(kind: str) -> None:
    """Add one to the count of Vault errors of `kind`; never fail the caller over it."""
    try:
        _broker().hincrby(VAULT_ERRORS_KEY, kind, 1)
    except redis.RedisError:
        logger.warning("Could not count a Vault error in Redis.", extra={"kind": kind})


def _histogram(name: str, documentation: str, sql: str, buckets: tuple[float, ...]) -> HistogramMetricFamily:
    """Return a histogram of the seconds that `sql` selects (one column, one row per observation)."""
    cases = ", ".join(f"count(*) FILTER (WHERE seconds <= {bound})" for bound in buckets)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {cases}, count(*), coalesce(sum(seconds), 0) FROM ({sql}) AS observed")
        *counts, total, seconds = cursor.fetchone()
    family = HistogramMetricFamily(name, documentation)
    family.add_metric(
        [],
        buckets=[(str(float(bound)), count) for bound, count in zip(buckets, counts, strict=True)] + [("+Inf", total)],
        sum_value=float(seconds),
    )
    return family


class PortalCollector:
    """Collect the portal's figures from PostgreSQL and Redis when Prometheus scrapes."""

    def collect(self):
        # Models at call time: the Vault client imports this module before Django has loaded the apps.
        from portal.access.models import AccessRequest, AuditEvent
        from portal.core.models import Heartbeat

        by_state = GaugeMetricFamily("latchkey_requests", "Access requests by state.", labels=["state"])
        counts = dict(AccessRequest.objects.order_by().values_list("state").annotate(n=Count("id")))
        for state in AccessRequest.State.values:
            by_state.add_metric([state], counts.get(state, 0))
        yield by_state

        yield GaugeMetricFamily(
            "latchkey_active_grants",
            "Grants whose credentials are live now.",
            value=counts.get(AccessRequest.State.ACTIVE, 0),
        )

        requests_table = AccessRequest._meta.db_table
        yield _histogram(
            "latchkey_issue_latency_seconds",
            "From approval (or the requested start, if later) until the grant was active.",
            f"""SELECT extract(epoch FROM starts_at - greatest(decided_at, coalesce(requested_starts_at, decided_at)))
                AS seconds FROM {requests_table}
                WHERE starts_at IS NOT NULL AND decided_at IS NOT NULL AND extends_id IS NULL""",
            ISSUE_BUCKETS,
        )
        yield _histogram(
            "latchkey_revocation_lateness_seconds",
            "From the end of a grant's window until it was revoked in Vault.",
            f"""SELECT greatest(extract(epoch FROM e.at - r.ends_at), 0) AS seconds
                FROM {AuditEvent._meta.db_table} e JOIN {requests_table} r ON r.id = e.request_id
                WHERE e.action = 'grant.expired'""",
            LATENESS_BUCKETS,
        )

        sweeper = Heartbeat.objects.filter(name="sweeper").values_list("at", flat=True).first()
        yield GaugeMetricFamily(
            "latchkey_sweeper_last_run_timestamp_seconds",
            "When the beat sweeper last ran (Unix time; 0 if never).",
            value=sweeper.timestamp() if sweeper else 0,
        )
        yield GaugeMetricFamily(
            "latchkey_sweeper_age_seconds",
            "Seconds since the beat sweeper last ran (-1 if never).",
            value=(clock.now() - sweeper).total_seconds() if sweeper else -1,
        )

        errors = CounterMetricFamily("latchkey_vault_errors", "Failed calls to Vault, by kind.", labels=["kind"])
        depth = GaugeMetricFamily(
            "latchkey_queue_depth", "Tasks waiting in each Celery queue (-1 if unknown).", labels=["queue"]
        )
        queues = [queue.name for queue in settings.CELERY_TASK_QUEUES]
        try:
            broker = _broker()
            for kind, count in broker.hgetall(VAULT_ERRORS_KEY).items():
                errors.add_metric([kind.decode()], int(count))
            for queue in queues:
                depth.add_metric([queue], broker.llen(queue))
        except redis.RedisError:
            for queue in queues:
                depth.add_metric([queue], -1)
        yield errors
        yield depth


def render() -> bytes:
    """Return the metrics in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PortalCollector())
    from portal.breakglass.metrics import BreakGlassCollector

    registry.register(BreakGlassCollector())
    return generate_latest(registry)
