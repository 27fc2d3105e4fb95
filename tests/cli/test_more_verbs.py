"""`latchkey deny`, `cancel`, `extend`, `review` and `break-glass` against a live portal on the real stack."""

import json

import pytest

from portal.access.models import AccessRequest
from portal.breakglass.models import BreakGlassPolicy, BreakGlassUse
from tests.grants.conftest import wait_for_state

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WHY = "Check the order totals for the board"
INCIDENT = "INC-4711"


@pytest.fixture
def break_glass(catalog):
    return BreakGlassPolicy.objects.create(role=catalog["orders-admin"], incident_pattern=r"^INC-[0-9]+$")


def test_review_lists_the_queue_and_deny_needs_a_comment(latchkey, people, catalog):
    request_id = latchkey("request", "orders-readwrite", "-j", WHY, name="alice").stdout.strip()

    queue = latchkey("review", name="bob")
    as_json = latchkey("review", "--json", name="bob")
    nothing = latchkey("review", name="erin")
    without_comment = latchkey("deny", request_id, name="bob")
    denied = latchkey("deny", request_id, "--comment", "Use the read replica", name="bob")

    assert queue.returncode == 0, queue.stderr
    assert queue.stdout.startswith(f"#{request_id}") and "alice@contoso.example" in queue.stdout
    assert [item["id"] for item in json.loads(as_json.stdout)["requests"]] == [int(request_id)]
    assert nothing.returncode == 0 and nothing.stdout == "" and "Nothing is waiting" in nothing.stderr
    assert without_comment.returncode == 2
    assert denied.returncode == 0, denied.stderr
    request = AccessRequest.objects.get(pk=request_id)
    assert request.state == "denied" and request.approvals.get().comment == "Use the read replica"
    assert latchkey("review", name="bob").stdout == ""


def test_alice_cannot_deny_her_own_request(latchkey, people, catalog):
    request_id = latchkey("request", "orders-readwrite", "-j", WHY, name="alice").stdout.strip()

    refused = latchkey("deny", request_id, "-m", "never mind", name="alice")

    assert refused.returncode == 4 and "cancel it instead" in refused.stderr
    assert AccessRequest.objects.get(pk=request_id).state == "pending"


def test_cancel_withdraws_a_pending_request_once(latchkey, people, catalog):
    request_id = latchkey("request", "orders-readwrite", "-j", WHY, name="alice").stdout.strip()

    cancelled = latchkey("cancel", request_id, name="alice")
    again = latchkey("cancel", request_id, name="alice")
    by_bob = latchkey("cancel", request_id, name="bob")

    assert cancelled.returncode == 0, cancelled.stderr
    assert AccessRequest.objects.get(pk=request_id).state == "cancelled"
    assert again.returncode == 6
    assert by_bob.returncode == 4


def test_extend_asks_for_more_time_on_an_active_grant(latchkey, worker, beat, people, catalog):
    request_id = latchkey(
        "request", "analytics-readonly", "-d", "10m", "-j", WHY, "--wait", "--poll", "0.5", name="alice"
    ).stdout.strip()

    extended = latchkey("extend", request_id, "-d", "30m", "-j", "The totals need another look", name="alice")
    too_short = latchkey("extend", request_id, "-j", "short", name="alice")

    assert extended.returncode == 0, extended.stderr
    extension = AccessRequest.objects.get(pk=extended.stdout.strip())
    assert extension.extends_id == int(request_id) and extension.duration_minutes == 30
    assert too_short.returncode == 10 and "justification" in too_short.stderr


def test_break_glass_gets_the_role_at_once_and_shows_in_the_approvers_review(
    latchkey, worker, beat, people, break_glass
):
    activated = latchkey(
        "break-glass",
        "orders-admin",
        "-i",
        INCIDENT,
        "-j",
        "Orders database down, restoring",
        "-d",
        "15m",
        "--wait",
        "--poll",
        "0.5",
        name="dave",
    )

    assert activated.returncode == 0, activated.stderr
    assert "BREAK-GLASS" in activated.stderr and "active until" in activated.stderr
    request_id = int(activated.stdout.strip())
    assert wait_for_state(request_id, "active").duration_minutes == 15
    assert "break-glass up to 60 min" in latchkey("roles", name="dave").stdout
    queue = latchkey("review", name="bob")
    assert f"BREAK-GLASS {INCIDENT}" in queue.stdout
    assert latchkey("review", name="dave").stdout == ""


def test_break_glass_refusals_end_with_their_exit_status(latchkey, people, break_glass):
    bad_incident = latchkey("break-glass", "orders-admin", "-i", "outage", "-j", WHY, name="dave")
    not_eligible = latchkey("break-glass", "orders-admin", "-i", INCIDENT, "-j", WHY, name="erin")
    no_policy = latchkey("break-glass", "orders-readwrite", "-i", INCIDENT, "-j", WHY, name="alice")
    break_glass.uses_allowed = 1
    break_glass.save()
    first = latchkey("break-glass", "orders-admin", "-i", INCIDENT, "-j", WHY, name="dave")
    AccessRequest.objects.filter(pk=first.stdout.strip()).update(state="expired")
    over_the_limit = latchkey("break-glass", "orders-admin", "-i", "INC-2", "-j", WHY, name="dave")

    assert bad_incident.returncode == 10 and "incident" in bad_incident.stderr
    assert not_eligible.returncode == 4
    assert no_policy.returncode == 5
    assert first.returncode == 0, first.stderr
    assert over_the_limit.returncode == 4 and "limit is 1" in over_the_limit.stderr
    assert BreakGlassUse.objects.count() == 1
