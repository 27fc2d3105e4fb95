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


@pytest.mark.parametrize("role", ["orders-readwrite", "analytics-readonly"])
def test_the_new_request_is_answered_without_reading_its_approvals_or_break_glass_use(alice, catalog, role):
    with CaptureQueriesContext(connection) as queries:
        response = post(alice, "requests", {"role": role, "justification": WHY})

    assert response.status_code == 201, response.json()
    # A request made this moment has neither: its answer is what a read shows, without reading them.
    assert [query["sql"] for query in queries.captured_queries if _reads_for_the_answer(query["sql"])] == []
    assert response.json() == read(alice, response.json()["id"])


def test_a_listed_request_reads_as_its_detail_and_the_list_reads_no_more_for_more_rows(
    alice, bob, carol, dave, catalog
):
    from portal.breakglass.services import break_glass_activate
    from tests.breakglass.conftest import allow_break_glass

    allow_break_glass(catalog["orders-admin"], incident_pattern=r"^INC-[0-9]+$")
    broken = break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident="INC-4711").request_id
    approved = asked(alice)
    post(bob, f"requests/{approved}/approve", {"comment": "Fine by me"})
    queries_for = {}
    for more in (False, True):
        if more:
            made_active(asked(alice, role="analytics-readonly"))
        with CaptureQueriesContext(connection) as queries:
            listed = client_for(carol).get("/api/v1/requests?scope=all").json()["results"]
        queries_for[len(listed)] = len(queries.captured_queries)

    # Only the columns shown are read, and nothing shown is read again row by row.
    assert list(queries_for) == [2, 3] and queries_for[2] == queries_for[3], queries_for
    by_id = {item["id"]: item for item in listed}
    assert by_id[broken]["break_glass"]["incident"] == "INC-4711"
    assert by_id[approved]["approvals"][0]["comment"] == "Fine by me"
    assert listed == [read(carol, item["id"]) for item in listed]


def _unlocked_reads_of_requests(queries) -> list[str]:
    return [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT") and 'FROM "access_accessrequest"' in query["sql"]
        if "FOR UPDATE" not in query["sql"]
    ]


def test_an_approval_reads_the_request_once_before_locking_it_and_an_extensions_grant_first(alice, bob, catalog):
    request_id = asked(alice)
    with CaptureQueriesContext(connection) as queries:
        approved = post(bob, f"requests/{request_id}/approve", {"comment": "Go ahead"})

    assert approved.json()["state"] == "approved"
    # The visibility check says which grant the request extends: the lock needs no read of its own.
    assert len(_unlocked_reads_of_requests(queries)) == 1, _unlocked_reads_of_requests(queries)

    grant = made_active(request_id)
    extension = post(alice, f"requests/{grant}/extend", {"duration_minutes": 15, "justification": WHY}).json()
    ends_at = read(alice, grant)["ends_at"]
    with CaptureQueriesContext(connection) as queries:
        extended = post(bob, f"requests/{extension['id']}/approve", {})
    unlocked = _unlocked_reads_of_requests(queries)
    locks = [query["sql"] for query in queries.captured_queries if "FOR UPDATE" in query["sql"]]

    assert extended.json()["state"] == "approved", extended.json()
    assert len(unlocked) == 1, unlocked
    assert f'"id" = {grant}' in locks[0] and f'"id" = {extension["id"]}' in locks[1], locks
    assert read(alice, grant)["ends_at"] > ends_at
