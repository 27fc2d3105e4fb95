"""The workflow through the JSON API: the field names and statuses of the API contract (README, "Automation")."""

from datetime import timedelta

import pytest
from django.test import Client

from portal.access.models import AccessRequest, AuditEvent
from portal.core.clock import now
from tests.support.grants import client_for

State = AccessRequest.State
WHY = "Investigating the late orders of ticket OPS-12"


def post(client, path, body=None):
    return client.post(f"/api/v1/{path}", body or {}, content_type="application/json")


def ask(client, role="orders-readwrite", **body):
    return post(client, "requests", {"role": role, "justification": WHY, **body})


def test_anonymous_caller_gets_401(db):
    response = Client().get("/api/v1/roles")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_roles_lists_what_the_caller_may_request_with_the_contract_fields(alice, catalog):
    response = client_for(alice).get("/api/v1/roles")

    assert response.status_code == 200
    assert [role["slug"] for role in response.json()] == ["analytics-readonly", "orders-readwrite"]
    assert set(response.json()[0]) == {
        "slug",
        "name",
        "description",
        "default_duration_minutes",
        "max_duration_minutes",
        "approvals_required",
        "ticket_required",
        # Added later, so the API tells what the page tells: why the caller, who approves, the ticket format.
        "ticket_pattern",
        "eligible_through",
        "approver_groups",
        # And whether (and how) the role may be activated in an emergency.
        "break_glass",
    }


def test_erin_is_eligible_for_nothing(erin, catalog):
    assert client_for(erin).get("/api/v1/roles").json() == []


def test_create_answers_201_with_the_request(alice, catalog):
    response = ask(client_for(alice), duration_minutes=30)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["role"] == "orders-readwrite"
    assert body["requester"] == "alice@contoso.example"
    assert body["state"] == "pending"
    assert body["duration_minutes"] == 30
    assert body["approvals"] == []
    assert {"id", "justification", "ticket", "starts_at", "ends_at", "created_at"} <= set(body)


def test_bad_input_gets_400_naming_each_field(dave, catalog):
    response = ask(client_for(dave), role="orders-admin", duration_minutes=61, justification="short", ticket="x")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert set(body["fields"]) == {"duration_minutes", "justification", "ticket"}


def test_a_malformed_start_time_gets_400(alice, catalog):
    response = ask(client_for(alice), starts_at="tomorrow")
    assert response.status_code == 400
    assert "starts_at" in response.json()["fields"]


def test_a_start_time_in_the_past_gets_400(alice, catalog):
    response = ask(client_for(alice), starts_at=(now() - timedelta(hours=2)).isoformat())
    assert response.status_code == 400


def test_not_eligible_gets_403_and_unknown_role_404(erin, catalog):
    client = client_for(erin)
    assert ask(client).status_code == 403
    assert ask(client, role="no-such-role").status_code == 404


def test_duplicate_request_gets_409_with_a_pointer_to_the_first(alice, catalog):
    client = client_for(alice)
    first = ask(client).json()

    response = ask(client)
    assert response.status_code == 409
    assert response.json()["existing_request"] == first["id"]


def test_bob_approves_through_the_api(alice, bob, catalog):
    request_id = ask(client_for(alice)).json()["id"]

    response = post(client_for(bob), f"requests/{request_id}/approve", {"comment": "fine"})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["state"] == "approved"
    assert body["approvals"][0]["approver"] == "bob@contoso.example"
    assert body["approvals"][0]["decision"] == "approve"
    assert body["approvals"][0]["comment"] == "fine"
    assert body["approvals"][0]["at"]


def test_self_approval_gets_403(bob, catalog):
    client = client_for(bob)
    request_id = ask(client).json()["id"]
    assert post(client, f"requests/{request_id}/approve").status_code == 403


def test_a_request_the_caller_may_not_see_is_404(alice, dave, catalog):
    request_id = ask(client_for(alice)).json()["id"]
    client = client_for(dave)

    assert client.get(f"/api/v1/requests/{request_id}").status_code == 404
    assert post(client, f"requests/{request_id}/approve").status_code == 404
    assert client.get("/api/v1/requests/999999").status_code == 404


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("approve", {}),
        ("deny", {"comment": "Not for this ticket"}),
        ("cancel", {}),
        ("extend", {"duration_minutes": 30, "justification": WHY}),
        ("revoke", {"reason": "Done with it"}),
        ("credentials", {}),
    ],
)
def test_every_action_on_a_request_the_caller_may_not_see_is_404_and_changes_nothing(
    alice, dave, catalog, action, body
):
    request_id = ask(client_for(alice)).json()["id"]
    before = AccessRequest.objects.get(pk=request_id)
    events = AuditEvent.objects.count()

    response = post(client_for(dave), f"requests/{request_id}/{action}", body)

    assert response.status_code == 404, response.json()
    assert response.json()["detail"] == f"There is no request #{request_id}."
    after = AccessRequest.objects.get(pk=request_id)
    assert (after.state, after.updated_at) == (before.state, before.updated_at)
    assert AuditEvent.objects.count() == events


def test_deny_needs_a_comment(alice, bob, catalog):
    request_id = ask(client_for(alice)).json()["id"]
    client = client_for(bob)

    assert post(client, f"requests/{request_id}/deny").status_code == 400
    response = post(client, f"requests/{request_id}/deny", {"comment": "Use the replica"})
    assert response.status_code == 200
    assert response.json()["state"] == "denied"
    assert post(client, f"requests/{request_id}/approve").status_code == 409


def test_approver_may_shorten_but_not_lengthen(alice, bob, catalog):
    request_id = ask(client_for(alice), duration_minutes=60).json()["id"]
    client = client_for(bob)

    assert post(client, f"requests/{request_id}/approve", {"duration_minutes": 90}).status_code == 400
    response = post(client, f"requests/{request_id}/approve", {"duration_minutes": 20})
    assert response.json()["duration_minutes"] == 20


def test_requester_cancels_then_a_second_cancel_is_409(alice, catalog):
    client = client_for(alice)
    request_id = ask(client).json()["id"]

    assert post(client, f"requests/{request_id}/cancel").json()["state"] == "cancelled"
    assert post(client, f"requests/{request_id}/cancel").status_code == 409


def test_extend_creates_a_linked_request(alice, bob, catalog):
    client = client_for(alice)
    request_id = ask(client).json()["id"]
    post(client_for(bob), f"requests/{request_id}/approve")
    AccessRequest.objects.filter(pk=request_id).update(
        state=State.ACTIVE, starts_at=now(), ends_at=now() + timedelta(hours=1)
    )

    response = post(client, f"requests/{request_id}/extend", {"duration_minutes": 15, "justification": WHY})

    assert response.status_code == 201, response.json()
    assert response.json()["extends"] == request_id
    assert response.json()["state"] == "pending"


def test_scopes_list_mine_what_i_may_review_and_all_for_admins(alice, bob, carol, dave, catalog):
    alices = ask(client_for(alice)).json()["id"]
    daves = ask(client_for(dave), role="orders-admin", ticket="OPS-1").json()["id"]
    bobs_own = ask(client_for(bob)).json()["id"]

    def ids(user, scope):
        response = client_for(user).get(f"/api/v1/requests?scope={scope}")
        assert response.status_code == 200
        return [item["id"] for item in response.json()["results"]]

    assert ids(alice, "mine") == [alices]
    assert ids(bob, "to_review") == [daves, alices]
    assert ids(carol, "all") == [bobs_own, daves, alices]
    assert client_for(alice).get("/api/v1/requests?scope=all").status_code == 403
    assert client_for(alice).get("/api/v1/requests?scope=everything").status_code == 400
    post(client_for(bob), f"requests/{daves}/approve")
    assert ids(bob, "to_review") == [alices]


def test_audit_is_for_admins_filters_and_exports_csv(alice, bob, carol, catalog):
    request_id = ask(client_for(alice)).json()["id"]
    post(client_for(bob), f"requests/{request_id}/approve")

    assert client_for(alice).get("/api/v1/audit").status_code == 403
    admin = client_for(carol)
    body = admin.get(f"/api/v1/audit?request={request_id}&actor=bob@contoso.example").json()
    assert [event["action"] for event in body["results"]] == ["request.approved", "request.approval"]
    assert admin.get("/api/v1/audit?since=yesterday").status_code == 400

    response = admin.get(f"/api/v1/audit?request={request_id}&format=csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,at,actor,action")
    assert len(lines) == 4


def test_the_schema_describes_the_request_endpoints(db, alice):
    response = client_for(alice).get("/api/v1/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    for path in ("/api/v1/requests:", "/api/v1/requests/{request_id}/approve:", "/api/v1/audit:"):
        assert path in text


@pytest.mark.parametrize("path", ["requests/1/approve", "requests/1/deny", "requests/1/cancel"])
def test_unknown_request_actions_are_404(alice, catalog, path):
    assert post(client_for(alice), path, {"comment": "whatever it is"}).status_code == 404
