"""An action's answer is the request as the action left it: exactly what a read of it shows right after."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.access.models import AccessRequest
from portal.core.clock import now
from tests.support.grants import client_for

State = AccessRequest.State
WHY = "Investigating the late orders of ticket OPS-12"


def post(user, path, body=None):
    return client_for(user).post(f"/api/v1/{path}", body or {}, content_type="application/json")


def read(user, request_id: int) -> dict:
    response = client_for(user).get(f"/api/v1/requests/{request_id}")
    assert response.status_code == 200, response.json()
    return response.json()


def asked(user, role="orders-readwrite", **body) -> int:
    response = post(user, "requests", {"role": role, "justification": WHY, **body})
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def made_active(request_id: int) -> int:
    """Stand in for issuance (the Vault side): the request is an active grant for the next hour."""
    start = now()
    AccessRequest.objects.filter(pk=request_id).update(
        state=State.ACTIVE, starts_at=start, ends_at=start + timedelta(hours=1), wrapped_secret="sealed"
    )
    return request_id


def test_the_new_request_is_answered_as_it_reads(alice, catalog):
    response = post(alice, "requests", {"role": "orders-readwrite", "justification": WHY, "duration_minutes": 30})

    assert response.status_code == 201
    assert response.json() == read(alice, response.json()["id"])


@pytest.mark.parametrize("body", [{}, {"comment": "Go ahead", "duration_minutes": 20}])
def test_the_approved_request_is_answered_as_it_reads(alice, bob, catalog, body):
    request_id = asked(alice)

    response = post(bob, f"requests/{request_id}/approve", body)

    assert response.status_code == 200
    assert response.json()["state"] == "approved"
    assert response.json() == read(bob, request_id)


def test_one_approval_of_two_is_answered_with_the_request_still_pending(dave, bob, catalog):
    request_id = asked(dave, role="orders-admin", ticket="OPS-12")

    response = post(bob, f"requests/{request_id}/approve", {"comment": "One of two"})

    assert response.json()["state"] == "pending"
    assert [approval["comment"] for approval in response.json()["approvals"]] == ["One of two"]
    assert response.json() == read(bob, request_id)


def test_the_denied_and_the_cancelled_requests_are_answered_as_they_read(alice, bob, dave, catalog):
    denied, cancelled = asked(alice), asked(dave, role="orders-admin", ticket="OPS-13")

    deny = post(bob, f"requests/{denied}/deny", {"comment": "Not this week"})
    cancel = post(dave, f"requests/{cancelled}/cancel")

    assert (deny.json()["state"], cancel.json()["state"]) == ("denied", "cancelled")
    assert deny.json() == read(bob, denied)
    assert cancel.json() == read(dave, cancelled)


def test_the_revoked_grant_and_the_extension_are_answered_as_they_read(alice, bob, catalog):
    grant, extended = made_active(asked(alice)), made_active(asked(alice, role="analytics-readonly"))

    revoke = post(alice, f"requests/{grant}/revoke", {"reason": "Done with it"})
    extend = post(alice, f"requests/{extended}/extend", {"duration_minutes": 15, "justification": WHY})

    assert revoke.json()["state"] == "revoking"
    assert revoke.json() == read(alice, grant)
    assert extend.status_code == 201
    assert extend.json() == read(alice, extend.json()["id"])


def test_grants_revoked_in_bulk_are_answered_as_they_read_in_as_many_reads_for_one_as_for_two(
    alice, bob, carol, catalog
):
    approved = asked(alice)
    post(bob, f"requests/{approved}/approve", {"comment": "Go ahead"})  # an approval for the answer to show
    grants = [made_active(approved), made_active(asked(bob))]
    alone = made_active(asked(alice, role="analytics-readonly"))

    answers, reads = [], []
    for role in ("analytics-readonly", "orders-readwrite"):
        with CaptureQueriesContext(connection) as queries:
            response = post(carol, "grants/revoke", {"role": role, "reason": "Rotating the role"})
        assert response.status_code == 200, response.json()
        answers.append(response.json())
        reads.append([query["sql"][:100] for query in queries.captured_queries if _reads_for_the_answer(query["sql"])])

    assert [[item["id"] for item in answer] for answer in answers] == [[alone], grants]
    assert answers[1][0]["approvals"][0]["comment"] == "Go ahead"
    assert answers == [[read(carol, item["id"]) for item in answer] for answer in answers]
    # The answer's reads, the break-glass uses and the approvals: two for one grant as for two, not two each.
    assert [len(found) for found in reads] == [2, 2], reads


def _reads_for_the_answer(sql: str) -> bool:
    return sql.startswith("SELECT") and ('FROM "access_approval"' in sql or 'FROM "breakglass_' in sql)
