"""Ending grants by the batch, on the real Vault: closed together, revoked in parallel, each recorded once.

What Vault does not confirm, and a grant whose extension received a token meanwhile, goes to the
one-grant task that retries; the sweeper hands many ended grants to batch tasks that a worker runs.
"""

from datetime import timedelta

import pytest

from portal.access import services, tasks
from portal.access.audit import audit_verify
from portal.access.models import AccessRequest, AuditEvent
from portal.access.services import batch_ending, sweeper
from portal.core.clock import now
from portal.devstack.tenant import GROUPS
from portal.integrations import vault
from tests.grants.conftest import WHY, can_log_in, grant_for, reveal, wait_for_state
from tests.support.personas import make_person

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

State = AccessRequest.State


def issued(people) -> list[AccessRequest]:
    """Issue three grants in this process (two roles, three holders) and return them, active."""
    requests = [
        grant_for(people["alice"], "analytics-readonly"),
        grant_for(people["alice"], "orders-readwrite", approver=people["bob"]),
        grant_for(people["bob"], "orders-readwrite", approver=people["carol"]),
    ]
    for request in requests:
        services.grant_issue(request_id=request.pk)
    return [AccessRequest.objects.get(pk=request.pk) for request in requests]


def reader(number: int):
    """Return another analytics reader, as alice is."""
    return make_person(
        upn=f"reader-{number}@contoso.example",
        oid=f"c0000000-0000-4000-8000-{number:012d}",
        display_name=f"Reader {number}",
        group_ids=[GROUPS["analytics-readers"]],
    )


def events(request_id: int, action: str) -> int:
    return AuditEvent.objects.filter(request_id=request_id, action=action).count()


def test_a_batch_of_ended_grants_is_ended_and_revoked_in_one_task_once(people, catalog, sent):
    grants = issued(people)
    credentials = reveal(people["alice"], grants[0].pk)
    assert can_log_in(credentials)
    running = grant_for(reader(1), "analytics-readonly", minutes=30)
    services.grant_issue(request_id=running.pk)
    ids = [grant.pk for grant in grants]
    AccessRequest.objects.filter(pk__in=ids).update(ends_at=now())
    sent.clear()

    tasks.expire_grants([*ids, running.pk])

    for grant in grants:
        grant.refresh_from_db()
        assert grant.state == State.EXPIRED
        assert not vault.grant_token_alive(accessor=grant.vault_token_accessor)
        assert (events(grant.pk, "grant.ended"), events(grant.pk, "grant.expired")) == (1, 1)
        assert AuditEvent.objects.get(request_id=grant.pk, action="grant.expired").details == {
            "token_accessors": [grant.vault_token_accessor]
        }
    assert not can_log_in(credentials)
    # Still running: untouched.
    assert AccessRequest.objects.get(pk=running.pk).state == State.ACTIVE
    # Each holder hears once that their grant ended; no one-grant revocation was needed.
    assert sorted(sent) == sorted(("notify_email", (pk, "ended")) for pk in ids)
    assert audit_verify() is None

    # The same batch again (a duplicated delivery): nothing changes, nothing is written or sent.
    written = AuditEvent.objects.count()
    tasks.expire_grants([*ids, running.pk])
    assert AuditEvent.objects.count() == written
    assert len(sent) == len(ids)


def test_a_grant_vault_does_not_confirm_is_handed_to_the_task_that_retries(people, catalog, sent, monkeypatch):
    grants = issued(people)
    for grant in grants:
        services.grant_revoke(actor=people["carol"], request_id=grant.pk, reason="Incident INC-7 is over")
    failing = grants[1]
    revoke = vault.revoke_grant_token

    def refuse_one(*, accessor):
        if accessor == failing.vault_token_accessor:
            raise vault.VaultUnavailable("Vault is sealed.")
        revoke(accessor=accessor)

    monkeypatch.setattr(vault, "revoke_grant_token", refuse_one)
    sent.clear()

    closed = services.grants_revoke_finish_many(request_ids=[grant.pk for grant in grants])

    assert [grant.pk for grant in closed] == [grants[0].pk, grants[2].pk]
    for grant in closed:
        assert AccessRequest.objects.get(pk=grant.pk).state == State.REVOKED
        assert not vault.grant_token_alive(accessor=grant.vault_token_accessor)
        assert AuditEvent.objects.get(request_id=grant.pk, action="grant.revoked").details == {
            "token_accessors": [grant.vault_token_accessor],
            "revoked_by": "carol@contoso.example",
            "reason": "Incident INC-7 is over",
        }
    row = AccessRequest.objects.get(pk=failing.pk)
    assert (row.state, row.last_error) == (State.REVOKING, "Vault is sealed.")
    assert vault.grant_token_alive(accessor=failing.vault_token_accessor)
    assert ("revoke_grant", (failing.pk,)) in sent
    assert events(failing.pk, "grant.revoked") == 0

    # The one-grant task, Vault answering again, finishes it.
    monkeypatch.setattr(vault, "revoke_grant_token", revoke)
    tasks.revoke_grant(failing.pk)
    assert AccessRequest.objects.get(pk=failing.pk).state == State.REVOKED
    assert not vault.grant_token_alive(accessor=failing.vault_token_accessor)
    assert audit_verify() is None


def test_extensions_are_revoked_with_their_grant_and_a_token_recorded_meanwhile_hands_it_over(
    people, catalog, sent, monkeypatch
):
    alice = people["alice"]
    grant, other = issued(people)[:2]
    extension = services.request_extend(actor=alice, request_id=grant.pk, duration_minutes=5, justification=WHY)
    services.grant_issue(request_id=extension.pk)
    extension.refresh_from_db()
    assert extension.state == State.ACTIVE and extension.vault_token_accessor
    late = services.request_extend(actor=alice, request_id=other.pk, duration_minutes=5, justification=WHY)
    for request in (grant, other):
        services.grant_revoke(actor=people["carol"], request_id=request.pk, reason="Incident INC-7 is over")
    revoke_in_parallel = batch_ending._revoke_in_parallel

    def token_recorded_meanwhile(grants, accessors):
        failed = revoke_in_parallel(grants, accessors)
        # The other grant's extension records a token after its grant's accessors were read.
        AccessRequest.objects.filter(pk=late.pk).update(state=State.ACTIVE, vault_token_accessor="late-accessor")
        return failed

    monkeypatch.setattr(batch_ending, "_revoke_in_parallel", token_recorded_meanwhile)
    sent.clear()

    closed = services.grants_revoke_finish_many(request_ids=[grant.pk, other.pk])

    assert [request.pk for request in closed] == [grant.pk]
    assert AccessRequest.objects.get(pk=extension.pk).state == State.REVOKED
    assert not vault.grant_token_alive(accessor=extension.vault_token_accessor)
    details = AuditEvent.objects.get(request_id=grant.pk, action="grant.revoked").details
    assert details["token_accessors"] == [grant.vault_token_accessor, extension.vault_token_accessor]
    # The other grant is left to the one-grant path, which revokes the late token too.
    assert AccessRequest.objects.get(pk=other.pk).state == State.REVOKING
    assert ("revoke_grant", (other.pk,)) in sent
    assert events(other.pk, "grant.revoked") == 0


def test_the_sweeper_hands_many_ended_grants_to_batch_tasks_that_the_worker_runs(worker, people, catalog, monkeypatch):
    monkeypatch.setattr(sweeper, "SWEEP_ENDED_INLINE", 1)
    monkeypatch.setattr(sweeper, "REVOKE_BATCH", 2)
    grants = [
        grant_for(people["alice"], "analytics-readonly"),
        grant_for(reader(1), "analytics-readonly"),
        grant_for(reader(2), "analytics-readonly"),
    ]
    grants = [wait_for_state(grant.pk, "active") for grant in grants]
    AccessRequest.objects.filter(pk__in=[grant.pk for grant in grants]).update(
        ends_at=now(), updated_at=now() - timedelta(minutes=1)
    )

    counts = services.grants_sweep()

    assert (counts["ended"], counts["ending_queued"]) == (0, 3)
    for grant in grants:
        wait_for_state(grant.pk, "expired")
        assert not vault.grant_token_alive(accessor=grant.vault_token_accessor)
        assert (events(grant.pk, "grant.ended"), events(grant.pk, "grant.expired")) == (1, 1)
    assert audit_verify() is None
