"""Break-glass on the real stack: OpenBao issues at once, beat escalates the late review, misuse revokes in Vault."""

from datetime import timedelta

import pytest

from portal.access.models import AuditEvent
from portal.breakglass.models import BreakGlassUse
from portal.core.clock import now
from tests.breakglass.conftest import INCIDENT, WHY
from tests.grants.conftest import can_log_in, client_for, reveal, wait_for_state
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fast_beat(stack, portal_env, worker):  # noqa: F811
    """Run Celery beat with the break-glass escalation every second."""
    stack.start_beat({**portal_env, "BREAK_GLASS_ESCALATION_INTERVAL_SECONDS": "1"}, name="test-beat-breakglass")
    yield
    stack.stop_process("test-beat-breakglass")


def _break_glass(user, incident: str):
    return client_for(user).post(
        "/api/v1/roles/orders-admin/break-glass",
        {"incident": incident, "justification": WHY, "duration_minutes": 15},
        content_type="application/json",
    )


def _metric(client, line_start: str) -> float:
    text = client.get("/metrics").content.decode()
    return float(next(line for line in text.splitlines() if line.startswith(line_start)).rsplit(" ", 1)[1])


def test_break_glass_issues_at_once_is_escalated_when_late_and_flagging_revokes_it_in_vault(
    stack,
    worker,  # noqa: F811
    fast_beat,
    people,  # noqa: F811
    policy,
):
    dave, bob, carol = people["dave"], people["bob"], people["carol"]

    created = _break_glass(dave, INCIDENT)
    assert created.status_code == 201, created.content
    grant = wait_for_state(created.json()["id"], "active")
    body = reveal(dave, grant.pk)
    assert can_log_in(body)
    admin = client_for(carol)
    assert _metric(admin, 'latchkey_break_glass_uses_total{review="pending",role="orders-admin"}') == 1
    assert _metric(admin, "latchkey_break_glass_active_grants") == 1

    # Nobody reviews it in time: beat escalates it to the admins, once.
    use = BreakGlassUse.objects.get(request=grant)
    BreakGlassUse.objects.filter(pk=use.pk).update(review_due_at=now() - timedelta(seconds=1))
    assert wait_until(lambda: BreakGlassUse.objects.get(pk=use.pk).escalated, timeout_seconds=30)
    assert _metric(admin, "latchkey_break_glass_reviews_overdue") == 1
    assert AuditEvent.objects.filter(request=grant, action="breakglass.escalated").count() == 1

    # bob flags it: the grant is revoked in Vault and its credentials stop working.
    flagged = client_for(bob).post(
        f"/api/v1/break-glass/{use.pk}/flag", {"comment": "No such incident"}, content_type="application/json"
    )
    assert flagged.status_code == 200, flagged.content
    wait_for_state(grant.pk, "revoked")
    assert wait_until(lambda: not can_log_in(body), timeout_seconds=20)
    assert AuditEvent.objects.filter(request=grant, action="breakglass.escalated").count() == 1

    # The second use of the week is granted; the third is refused.
    second = _break_glass(dave, "INC-4712")
    assert second.status_code == 201, second.content
    wait_for_state(second.json()["id"], "active")
    client_for(dave).post(f"/api/v1/requests/{second.json()['id']}/revoke", content_type="application/json")
    wait_for_state(second.json()["id"], "revoked")
    third = _break_glass(dave, "INC-4713")
    assert third.status_code == 403 and third.json()["error"] == "break_glass_limit"
    assert BreakGlassUse.objects.filter(requester=dave).count() == 2
