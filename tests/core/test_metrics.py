"""Prometheus metrics at /metrics: figures from the database, for the scraper only."""

import re
from datetime import timedelta

import pytest

from tests.support.fixtures import DEMO_CATALOG
from tests.support.personas import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def roles(db):
    from portal.access.catalog import catalog_import
    from portal.access.models import AccessRole

    catalog_import(DEMO_CATALOG.read_text(), source=str(DEMO_CATALOG))
    return {role.slug: role for role in AccessRole.objects.all()}


def _sample(text: str, name: str, labels: str = "") -> float:
    """Return the value of one sample of the exposition `text`."""
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name}{labels} is not in the metrics:\n{text}"
    return float(match.group(1))


def _scrape(client, **headers) -> str:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def _grant(role, user, *, state, decided_at=None, starts_at=None, ends_at=None):
    from portal.access.models import AccessRequest

    return AccessRequest.objects.create(
        role=role,
        requester=user,
        state=state,
        justification="Investigating a billing incident.",
        duration_minutes=30,
        decided_at=decided_at,
        starts_at=starts_at,
        ends_at=ends_at,
    )


def test_a_caller_outside_the_allowed_networks_without_the_token_is_refused(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    settings.METRICS_TOKEN = "scrape-secret"

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_the_scraper_reads_the_metrics_with_its_token(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.METRICS_TOKEN = "scrape-secret"

    text = _scrape(client, HTTP_AUTHORIZATION="Bearer scrape-secret")

    assert "latchkey_active_grants" in text


def test_an_allowed_network_reads_the_metrics_without_a_token(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["192.0.2.0/24"]
    settings.METRICS_TOKEN = ""

    assert "latchkey_requests" in _scrape(client, REMOTE_ADDR="192.0.2.7")


def test_requests_are_counted_by_state_and_active_grants_separately(client, roles):
    from portal.core.clock import now

    alice, dave = make_user("alice"), make_user("dave")
    _grant(roles["orders-readwrite"], alice, state="pending")
    _grant(roles["analytics-readonly"], alice, state="active", decided_at=now(), starts_at=now())
    _grant(roles["orders-admin"], dave, state="active", decided_at=now(), starts_at=now())

    text = _scrape(client)

    assert _sample(text, "latchkey_requests", '{state="pending"}') == 1
    assert _sample(text, "latchkey_requests", '{state="active"}') == 2
    assert _sample(text, "latchkey_requests", '{state="denied"}') == 0
    assert _sample(text, "latchkey_active_grants") == 2


def test_issue_latency_is_measured_from_approval_to_active(client, roles):
    from portal.core.clock import now

    alice, bob = make_user("alice"), make_user("bob")
    approved = now() - timedelta(minutes=5)
    _grant(
        roles["orders-readwrite"],
        alice,
        state="active",
        decided_at=approved,
        starts_at=approved + timedelta(seconds=0.2),
    )
    _grant(
        roles["orders-readwrite"], bob, state="expired", decided_at=approved, starts_at=approved + timedelta(seconds=3)
    )

    text = _scrape(client)

    assert _sample(text, "latchkey_issue_latency_seconds_count") == 2
    assert _sample(text, "latchkey_issue_latency_seconds_bucket", '{le="0.25"}') == 1
    assert _sample(text, "latchkey_issue_latency_seconds_bucket", '{le="5.0"}') == 2
    assert _sample(text, "latchkey_issue_latency_seconds_sum") == pytest.approx(3.2, abs=0.01)


def test_revocation_lateness_is_measured_from_the_end_of_the_window(client, roles):
    from portal.access.audit import audit_record
    from portal.core.clock import now

    alice = make_user("alice")
    ended = now() - timedelta(seconds=30)
    grant = _grant(roles["orders-readwrite"], alice, state="expired", decided_at=ended, starts_at=ended, ends_at=ended)
    audit_record(actor=None, action="grant.expired", request=grant, details={})

    text = _scrape(client)

    assert _sample(text, "latchkey_revocation_lateness_seconds_count") == 1
    assert _sample(text, "latchkey_revocation_lateness_seconds_bucket", '{le="10.0"}') == 0
    assert _sample(text, "latchkey_revocation_lateness_seconds_bucket", '{le="60.0"}') == 1


def test_the_sweeper_heartbeat_and_the_queue_depth_are_reported(client, stack):
    from portal.core.services import heartbeat_record

    beat = heartbeat_record(name="sweeper")

    text = _scrape(client)

    assert _sample(text, "latchkey_sweeper_last_run_timestamp_seconds") == pytest.approx(beat.at.timestamp())
    assert _sample(text, "latchkey_queue_depth", '{queue="celery"}') >= 0
    assert _sample(text, "latchkey_queue_depth", '{queue="notifications"}') >= 0


def test_a_refused_vault_call_is_counted_as_a_vault_error(client, stack):
    from portal.integrations import vault

    def forbidden_count() -> float:
        match = re.search(r'^latchkey_vault_errors_total\{kind="VaultForbidden"\} (\S+)$', _scrape(client), re.M)
        return float(match.group(1)) if match else 0.0

    before = forbidden_count()
    with pytest.raises(vault.VaultForbidden):
        vault.read_wrapped_credentials(
            token="not-a-real-token", mount="database", role="orders-readwrite", wrap_ttl_seconds=60
        )

    assert forbidden_count() == before + 1
