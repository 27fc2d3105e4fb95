"""Issuing by the batch, on the real Vault: the requests waiting go with the one whose task runs.

Each keeps the promises of issuing one: claimed once, its accessor committed before its credentials are
read, an attempt that fails given back, a token of a request taken over meanwhile revoked.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.access import services, tasks
from portal.access.audit import audit_verify
from portal.access.models import AccessRequest, AccessRole, AuditAction, AuditEvent
from portal.core.clock import now
from portal.core.errors import InvalidTransition
from portal.integrations import vault
from tests.faults.conftest import analytics_reader
from tests.grants.conftest import WHY, can_log_in, grant_for, live_tokens_of, reveal
from tests.support.grants import removed_by_a_review

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

State = AccessRequest.State


def approved(people) -> list[AccessRequest]:
    """Three approved requests (two roles, two holders), none issued yet."""
    return [
        grant_for(people["alice"], "analytics-readonly"),
        grant_for(people["alice"], "orders-readwrite", approver=people["bob"]),
        grant_for(people["bob"], "orders-readwrite", approver=people["carol"]),
    ]


def issued_events(request_id: int) -> int:
    return AuditEvent.objects.filter(request_id=request_id, action="grant.issued").count()


def test_the_requests_waiting_are_issued_with_the_one_whose_task_runs_and_only_once(people, catalog, sent):
    requests = approved(people)
    sent.clear()

    tasks.issue_grant(requests[0].pk)

    for request in requests:
        request.refresh_from_db()
        assert request.state == State.ACTIVE
        assert request.issue_attempts == 1
        assert vault.grant_token_alive(accessor=request.vault_token_accessor)
        event = AuditEvent.objects.get(request_id=request.pk, action="grant.issued")
        assert event.details["token_accessor"] == request.vault_token_accessor
        assert event.details["ends_at"] == request.ends_at.isoformat()
    assert can_log_in(reveal(people["bob"], requests[2].pk))
    assert sorted(name for name, _ in sent) == ["expire_grant"] * 3 + ["notify_email"] * 3
    assert audit_verify() is None

    # Their own tasks, delivered later (or twice): nothing left to do.
    for request in requests:
        tasks.issue_grant(request.pk)
    assert [issued_events(request.pk) for request in requests] == [1, 1, 1]
    assert len(sent) == 6


def test_a_request_not_yet_due_or_being_retried_is_not_taken_along(people, catalog, sent):
    first, later, retried = approved(people)
    AccessRequest.objects.filter(pk=later.pk).update(requested_starts_at=now() + timedelta(hours=1))
    AccessRequest.objects.filter(pk=retried.pk).update(issue_attempts=1)

    tasks.issue_grant(first.pk)

    assert AccessRequest.objects.get(pk=first.pk).state == State.ACTIVE
    assert AccessRequest.objects.get(pk=later.pk).state == State.APPROVED
    assert AccessRequest.objects.get(pk=retried.pk).state == State.APPROVED


def test_a_token_vault_refuses_gives_that_request_back_and_the_others_are_issued(people, catalog, sent, monkeypatch):
    failing, *others = approved(people)
    create = vault.create_grant_token

    def refuse_one(**kwargs):
        if kwargs["metadata"]["request_id"] == str(failing.pk):
            raise vault.VaultUnavailable("Vault is sealed.")
        return create(**kwargs)

    monkeypatch.setattr(vault, "create_grant_token", refuse_one)

    # The task's own request failed: the task raises so that Celery retries it.
    with pytest.raises(vault.VaultUnavailable):
        services.grant_issue_with_waiting(request_id=failing.pk)

    row = AccessRequest.objects.get(pk=failing.pk)
    assert (row.state, row.last_error, row.vault_token_accessor) == (State.APPROVED, "Vault is sealed.", "")
    assert issued_events(failing.pk) == 0
    for request in others:
        assert AccessRequest.objects.get(pk=request.pk).state == State.ACTIVE


def test_each_accessor_is_committed_before_its_credentials_are_read_and_a_failed_read_revokes_the_token(
    people, catalog, sent, monkeypatch
):
    requests = approved(people)
    read = vault.read_wrapped_credentials
    seen = {}

    def read_after_checking(*, token, **kwargs):
        # In the batch's thread, on a connection of its own: the accessor is already committed.
        try:
            lookup = AccessRequest.objects.filter(state=State.ISSUING).values_list("pk", "vault_token_accessor")
            seen.update(dict(lookup))
        finally:
            connection.close()
        if kwargs["role"] == "analytics-readonly":
            raise vault.VaultUnavailable("Vault timed out.")
        return read(token=token, **kwargs)

    monkeypatch.setattr(vault, "read_wrapped_credentials", read_after_checking)

    issued, errors = services.grants_issue_many(request_ids=[request.pk for request in requests])

    assert set(seen) == {request.pk for request in requests}
    assert all(seen.values())
    assert [request.pk for request in issued] == [requests[1].pk, requests[2].pk]
    assert list(errors) == [requests[0].pk]
    row = AccessRequest.objects.get(pk=requests[0].pk)
    assert (row.state, row.vault_token_accessor) == (State.APPROVED, "")
    assert not vault.grant_token_alive(accessor=seen[requests[0].pk])


def test_a_request_taken_over_while_its_credentials_were_read_loses_its_token(people, catalog, sent, monkeypatch):
    requests = approved(people)
    taken = requests[1]
    read = vault.read_wrapped_credentials

    def taken_over_meanwhile(*, token, **kwargs):
        wrapped = read(token=token, **kwargs)
        if kwargs["role"] == "orders-readwrite":
            # Recovery claimed the row (it moves its stamp) while Vault answered.
            AccessRequest.objects.filter(pk=taken.pk).update(updated_at=now())
            connection.close()
        return wrapped

    monkeypatch.setattr(vault, "read_wrapped_credentials", taken_over_meanwhile)

    issued, errors = services.grants_issue_many(request_ids=[request.pk for request in requests])

    assert errors == {}
    assert taken.pk not in [request.pk for request in issued]
    row = AccessRequest.objects.get(pk=taken.pk)
    assert row.state == State.ISSUING
    assert not vault.grant_token_alive(accessor=row.vault_token_accessor)
    assert issued_events(taken.pk) == 0
    assert len(issued) == 2


def test_an_extension_is_issued_on_its_own(people, catalog, sent):
    alice = people["alice"]
    grant = grant_for(alice, "analytics-readonly", minutes=5)
    services.grant_issue(request_id=grant.pk)
    extension = services.request_extend(actor=alice, request_id=grant.pk, duration_minutes=5, justification=WHY)
    waiting = grant_for(people["bob"], "orders-readwrite", approver=people["carol"])

    tasks.issue_grant(extension.pk)

    assert AccessRequest.objects.get(pk=extension.pk).state == State.ACTIVE
    # Not a batch: the other request waits for its own task.
    assert AccessRequest.objects.get(pk=waiting.pk).state == State.APPROVED


def test_a_grant_whose_vault_role_is_gone_fails_naming_it_and_leaves_no_token(stack, people, catalog, sent):
    # `sent` keeps the approval's issue task from a worker that an earlier test left running.
    request = grant_for(people["alice"], "orders-readwrite", approver=people["bob"])
    # Removed in Vault since the catalog check last looked.
    AccessRole.objects.filter(slug="orders-readwrite").update(vault_role="no-such-vault-role")

    with pytest.raises(vault.VaultRoleMissing):
        tasks.issue_grant(request.pk)

    request.refresh_from_db()
    assert request.state == State.FAILED
    assert "no-such-vault-role" in request.last_error and "does not exist" in request.last_error
    assert request.vault_token_accessor == ""
    assert live_tokens_of(stack, request.pk) == []
    event = AuditEvent.objects.get(request_id=request.pk, action="grant.issue_failed")
    assert "no-such-vault-role" in event.details["error"]


def test_each_vault_role_of_a_batch_is_checked_once_before_its_tokens_are_created(people, catalog, sent, monkeypatch):
    requests = approved(people)  # three requests, two roles
    calls = []
    check, create = vault.check_role, vault.create_grant_token

    def check_first(**kwargs):
        calls.append(("check", kwargs["role"]))
        return check(**kwargs)

    monkeypatch.setattr(vault, "check_role", check_first)

    def create_after_check(**kwargs):
        calls.append(("create", kwargs["role"]))
        return create(**kwargs)

    monkeypatch.setattr(vault, "create_grant_token", create_after_check)

    services.grant_issue_with_waiting(request_id=requests[0].pk)

    checks = [role for kind, role in calls if kind == "check"]
    assert sorted(checks) == ["analytics-readonly", "orders-readwrite"]
    assert [kind for kind, _ in calls[:2]] == ["check", "check"] and len(calls) == 5
    for request in requests:
        assert AccessRequest.objects.get(pk=request.pk).state == State.ACTIVE


def test_once_a_token_creation_goes_unanswered_the_others_of_the_batch_are_not_sent(
    stack, people, catalog, sent, monkeypatch
):
    requests = [grant_for(people["alice"], "analytics-readonly")]
    requests += [grant_for(analytics_reader(number), "analytics-readonly") for number in (1, 2, 3)]
    monkeypatch.setattr("portal.access.services.batch_issuing.VAULT_PARALLEL", 1)  # one after the other
    create, sent_to_vault = vault.create_grant_token, []

    def unanswered_first(**kwargs):
        sent_to_vault.append(kwargs["metadata"]["request_id"])
        if len(sent_to_vault) == 1:
            # As when Vault stalls: the call may have reached it, and no answer came back.
            raise vault.VaultNoAnswer("Vault did not answer: ReadTimeout.")
        return create(**kwargs)

    monkeypatch.setattr(vault, "create_grant_token", unanswered_first)

    with pytest.raises(vault.VaultNoAnswer):
        services.grant_issue_with_waiting(request_id=requests[0].pk)

    assert sent_to_vault == [str(requests[0].pk)]
    for request in requests:
        row = AccessRequest.objects.get(pk=request.pk)
        assert (row.state, row.vault_token_accessor) == (State.APPROVED, "")
        assert "did not answer" in row.last_error
        assert live_tokens_of(stack, request.pk) == []


def test_a_batch_reads_what_its_claims_check_once_and_issues_no_approval_the_history_does_not_prove(
    people, catalog, sent
):
    requests = approved(people)
    forged = services.request_create(actor=people["dave"], role="orders-admin", justification=WHY, ticket="OPS-1")
    with connection.cursor() as cursor:
        # As a database intruder would: approved in the table, with no approval in the history.
        cursor.execute("UPDATE access_accessrequest SET state = 'approved' WHERE id = %s", [forged.pk])

    with CaptureQueriesContext(connection) as captured:
        services.grants_issue_many(request_ids=[request.pk for request in requests] + [forged.pk])

    def reads_of(table: str) -> int:
        queries = [query["sql"] for query in captured.captured_queries]
        return sum(sql.startswith("SELECT") and f'FROM "{table}"' in sql for sql in queries)

    # One read each for the whole batch: the approvals (the tokens' metadata too), the history's proofs,
    # the review removals.
    assert reads_of("access_approval") == 1
    assert reads_of("reviews_roleexclusion") == 1
    proofs = [sql for sql in (query["sql"] for query in captured.captured_queries) if "'request.approved'" in sql]
    assert len(proofs) == 1 and proofs[0].startswith("SELECT")
    for request in requests:
        assert AccessRequest.objects.get(pk=request.pk).state == State.ACTIVE
    forged.refresh_from_db()
    assert (forged.state, forged.vault_token_accessor) == (State.FAILED, "")
    refusal = AuditEvent.objects.get(request=forged, action=AuditAction.GRANT_NOT_ISSUED)
    assert refusal.details == {"reason": "approval_unproven"}
    assert audit_verify() is None


def _queries_issuing_alone(people) -> list[str]:
    """Issue one request with nothing else waiting, through its task; return the SQL of every query it ran."""
    request = grant_for(people["alice"], "analytics-readonly")

    with CaptureQueriesContext(connection) as captured:
        tasks.issue_grant(request.pk)

    request.refresh_from_db()
    assert request.state == State.ACTIVE
    return [query["sql"] for query in captured.captured_queries]


def test_a_request_alone_is_claimed_without_reading_again_whether_it_extends_a_grant(people, catalog, sent):
    queries = _queries_issuing_alone(people)

    # The look for other waiting requests found it among those that extend nothing: the claim locks it at once.
    assert not [sql for sql in queries if sql.startswith('SELECT "access_accessrequest"."extends_id"')]
    assert len([sql for sql in queries if "FOR UPDATE" in sql]) == 1


def test_the_look_for_other_waiting_requests_is_the_claims_lock(people, catalog, sent):
    queries = _queries_issuing_alone(people)

    claim = next(i for i, sql in enumerate(queries) if sql.startswith('UPDATE "access_accessrequest"'))
    reads = [sql for sql in queries[:claim] if sql.startswith("SELECT") and 'FROM "access_accessrequest"' in sql]
    # Before the claim: a read of its own request's state, and the look for the others, which locks what it
    # finds (skipping held rows). No look for the others goes without the lock.
    locking = [sql for sql in reads if "FOR UPDATE" in sql]
    assert len(locking) == 1 and "SKIP LOCKED" in locking[0]
    assert len(reads) == 2
    assert not [sql for sql in reads if sql not in locking and "issue_attempts" in sql.partition(" WHERE ")[2]]


@pytest.mark.parametrize("others_waiting", [False, True], ids=["alone", "in a batch"])
def test_a_requester_a_review_removed_after_the_approval_is_not_issued(people, catalog, sent, others_waiting):
    request = grant_for(people["alice"], "orders-readwrite", approver=people["bob"])
    # Another holder of the same role, and the same holder's other role: neither was removed.
    others = (
        [
            grant_for(people["bob"], "orders-readwrite", approver=people["carol"]),
            grant_for(people["alice"], "analytics-readonly"),
        ]
        if others_waiting
        else []
    )
    removed_by_a_review(people["alice"], request.role)

    tasks.issue_grant(request.pk)

    request.refresh_from_db()
    assert (request.state, request.vault_token_accessor) == (State.FAILED, "")
    refusal = AuditEvent.objects.get(request=request, action=AuditAction.GRANT_NOT_ISSUED)
    assert refusal.details == {"reason": "requester_not_eligible"}
    for other in others:
        assert AccessRequest.objects.get(pk=other.pk).state == State.ACTIVE


def test_a_task_whose_request_another_worker_holds_issues_the_others_without_waiting_for_it(people, catalog, sent):
    import psycopg

    own, *others = approved(people)
    params = connection.get_connection_params()
    other_worker = psycopg.connect(**{key: value for key, value in params.items() if key != "cursor_factory"})
    try:
        # Another worker's claim holds the task's own request. Waiting for it would fail the test, not hang it.
        other_worker.execute("SELECT id FROM access_accessrequest WHERE id = %s FOR UPDATE", [own.pk])
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")

        issued = services.grant_issue_with_waiting(request_id=own.pk)

        assert sorted(request.pk for request in issued) == sorted(other.pk for other in others)
        for other in others:
            assert AccessRequest.objects.get(pk=other.pk).state == State.ACTIVE
        # Its own is the holder's to issue.
        assert AccessRequest.objects.get(pk=own.pk).state == State.APPROVED
    finally:
        other_worker.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


def test_a_task_whose_request_is_no_longer_waiting_locks_none_of_the_others(people, catalog, sent):
    done, *others = approved(people)
    services.grant_issue(request_id=done.pk)

    with CaptureQueriesContext(connection) as captured, pytest.raises(InvalidTransition, match="not approved"):
        services.grant_issue_with_waiting(request_id=done.pk)

    # A duplicate delivery stops at one read of its request: it locks nothing, so the others are not held
    # while it finds nothing to do (another worker's batch would skip them); they are left to their own tasks.
    assert len(captured.captured_queries) == 1
    assert "FOR UPDATE" not in captured.captured_queries[0]["sql"]
    for other in others:
        assert AccessRequest.objects.get(pk=other.pk).state == State.APPROVED
