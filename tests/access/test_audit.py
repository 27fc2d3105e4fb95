"""The audit trail is append-only, keyed and anchored in Vault: no edit, cut, forgery or rewrite goes unseen."""

import hashlib
import json
import logging
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction
from django.test import override_settings

from portal.access import services
from portal.access.audit import (
    CHAIN_KEYED,
    GENESIS_HASH,
    AuditChainBroken,
    audit_anchor,
    audit_chain_take_over,
    audit_record,
    audit_record_many,
    audit_verify,
)
from portal.access.models import AccessRequest, AppendOnly, AuditAction, AuditEvent
from portal.core.clock import now
from portal.integrations import vault
from tests.support.audit_tamper import tamper, trigger_off
from tests.support.waiting import wait_until

WHY = "Investigating the late orders of ticket OPS-12"


def _three_events(alice, bob):
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    services.request_approve(actor=bob, request_id=request.pk)
    return list(AuditEvent.objects.order_by("id"))


def _history(alice, bob, *, extra: int = 3):
    """Write a few events, anchor the head in Vault, and return every event in order."""
    _three_events(alice, bob)
    for n in range(extra):
        audit_record(actor=alice, action="test.event", details={"n": n})
    audit_anchor()
    return list(AuditEvent.objects.order_by("id"))


def _unkeyed_hash(prev_hash: str, event: AuditEvent) -> str:
    """Return the hash anyone with the database can compute: SHA-256 without a key."""
    return hashlib.sha256((prev_hash + event.canonical()).encode()).hexdigest()


def _verify_audit_fails_naming(event_id: int) -> str:
    with pytest.raises(CommandError, match=f"#{event_id}\\b") as caught:
        call_command("verify_audit")
    return str(caught.value)


# ----- the chain -----


def test_events_are_chained_by_an_hmac_with_the_chain_key(alice, bob, catalog):
    events = _three_events(alice, bob)

    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    assert audit_verify() is None
    call_command("verify_audit")
    with override_settings(AUDIT_CHAIN_KEY="another-key-of-at-least-32-characters!"):
        broken = audit_verify()
    assert broken is not None and broken.event_id == events[0].pk


def test_events_written_together_are_chained_in_the_order_of_their_ids(alice, bob, catalog):
    before = _three_events(alice, bob)
    request = AccessRequest.objects.get()

    written = audit_record_many(
        [
            {"actor": bob, "action": AuditAction.GRANT_REVOKE_REQUESTED, "request": request, "details": {"n": n}}
            for n in range(4)
        ]
    )

    events = list(AuditEvent.objects.order_by("id"))
    assert [event.pk for event in events[len(before) :]] == [event.pk for event in written]
    assert [event.details["n"] for event in events[len(before) :]] == [0, 1, 2, 3]
    for earlier, later in zip(events, events[1:], strict=False):
        assert later.prev_hash == earlier.hash
    assert audit_verify() is None
    with override_settings(AUDIT_CHAIN_KEY="another-key-of-at-least-32-characters!"):
        assert audit_verify().event_id == events[0].pk


def test_an_edited_event_among_those_written_together_is_named(alice, bob, catalog):
    _three_events(alice, bob)
    request = AccessRequest.objects.get()
    written = audit_record_many(
        [{"actor": bob, "action": AuditAction.GRANT_REVOKE_REQUESTED, "request": request} for _ in range(3)]
    )

    tamper("UPDATE access_auditevent SET actor_label = 'someone else' WHERE id = %s", [written[1].pk])

    assert audit_verify().event_id == written[1].pk


def test_the_orm_refuses_to_update_or_delete_an_event(alice, bob, catalog):
    event = _three_events(alice, bob)[0]

    event.action = "request.nothing"
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()
    with pytest.raises(AppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AppendOnly):
        AuditEvent.objects.all().delete()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE access_auditevent SET actor_label = 'mallory' WHERE id = %s",
        "DELETE FROM access_auditevent WHERE id = %s",
    ],
)
def test_the_database_refuses_to_update_or_delete_an_event(alice, bob, catalog, statement):
    event = _three_events(alice, bob)[1]

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [event.pk])

    assert AuditEvent.objects.get(pk=event.pk).actor_label == event.actor_label
    assert audit_verify() is None


def test_the_acting_requests_ip_and_user_agent_are_recorded(alice, catalog, rf):
    http = rf.post("/", REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="curl/8")
    event = audit_record(actor=alice, action="test.event", http_request=http, details={"n": 1})

    assert (event.ip, event.user_agent, event.actor_label) == ("10.1.2.3", "curl/8", "alice@contoso.example")


# ----- five ways to tamper, each named by verify_audit -----


def test_verify_audit_names_a_row_edited_past_the_trigger(alice, bob, catalog):
    events = _history(alice, bob)
    tamper("UPDATE access_auditevent SET actor_label = 'mallory' WHERE id = %s", [events[1].pk])

    message = _verify_audit_fails_naming(events[1].pk)

    assert "HMAC" in message


def test_verify_audit_names_the_row_after_a_deleted_middle_row(alice, bob, catalog):
    events = _history(alice, bob)
    tamper("DELETE FROM access_auditevent WHERE id = %s", [events[2].pk])

    broken = audit_verify()
    assert broken is not None and broken.event_id == events[3].pk
    message = _verify_audit_fails_naming(events[3].pk)
    assert "removed" in message


def test_verify_audit_names_the_anchored_head_when_the_newest_rows_are_deleted(alice, bob, catalog):
    events = _history(alice, bob)
    # Older than the anchor: deleted after beat put the head in Vault.
    tamper("DELETE FROM access_auditevent WHERE id >= %s", [events[-2].pk])

    assert audit_verify() is None  # the chain alone cannot tell: what is left is intact
    message = _verify_audit_fails_naming(events[-1].pk)
    assert f"#{events[-3].pk}" in message and "deleted" in message


def test_verify_audit_names_the_first_row_of_a_chain_recomputed_without_the_key(alice, bob, catalog):
    events = _history(alice, bob)
    # Rewrite one event and recompute every hash from there on, as the chain used to be computed.
    forged = events[2]
    forged.details = {"edited": True}
    prev = events[1].hash
    rewritten = []
    for event in [forged, *events[3:]]:
        event.prev_hash = prev
        prev = _unkeyed_hash(prev, event)
        rewritten.append((json.dumps(event.details), event.prev_hash, prev, event.pk))
    with connection.cursor() as cursor, trigger_off():
        cursor.executemany(
            "UPDATE access_auditevent SET details = %s::jsonb, prev_hash = %s, hash = %s WHERE id = %s", rewritten
        )

    _verify_audit_fails_naming(forged.pk)


def test_verify_audit_names_a_forged_row_inserted_after_the_head(alice, bob, catalog):
    events = _history(alice, bob, extra=0)
    head = events[-1]
    forged = AuditEvent(
        at=now(),
        actor=alice,
        actor_label="alice@contoso.example",
        action="request.cancelled",
        request=head.request,
        role=head.role,
        details={},
        prev_hash=head.hash,
    )
    forged.hash = _unkeyed_hash(head.hash, forged)
    forged.save()

    _verify_audit_fails_naming(forged.pk)


# ----- the anchor in Vault -----


def test_the_anchor_holds_the_head_its_hmac_and_the_number_of_events(alice, bob, catalog):
    events = _history(alice, bob)

    anchor = vault.audit_anchor_read()

    assert (anchor.event_id, anchor.hmac, anchor.count) == (events[-1].pk, events[-1].hash, len(events))
    assert audit_anchor().version == anchor.version  # nothing new: nothing written
    audit_record(actor=None, action="test.event")
    moved = audit_anchor()
    assert (moved.version, moved.count) == (anchor.version + 1, len(events) + 1)
    assert vault.audit_anchor_read() == moved
    call_command("verify_audit")


def test_the_anchor_is_not_moved_over_deleted_rows(alice, bob, catalog, caplog):
    from portal.access.tasks import audit_anchor as anchor_task

    events = _history(alice, bob)
    anchored = vault.audit_anchor_read()
    tamper("DELETE FROM access_auditevent WHERE id >= %s", [events[-2].pk])
    # A new event chains onto what is left: the chain alone looks whole again.
    audit_record(actor=None, action="test.after_the_cut")
    assert audit_verify() is None

    with pytest.raises(AuditChainBroken, match=f"#{events[-1].pk}"):
        audit_anchor()
    with caplog.at_level(logging.ERROR, logger="portal.access.tasks"):
        anchor_task()

    assert vault.audit_anchor_read() == anchored
    assert "Not anchoring the audit chain" in caplog.text
    _verify_audit_fails_naming(events[-1].pk)


def test_a_stale_anchor_write_loses_the_check_and_set(alice, bob, catalog):
    events = _history(alice, bob)
    anchor = vault.audit_anchor_read()

    with pytest.raises(vault.VaultConflict):
        vault.audit_anchor_write(
            event_id=events[0].pk, hmac=events[0].hash, count=1, at=now(), cas=anchor.version - 1 or 0
        )

    assert vault.audit_anchor_read() == anchor


def test_beat_anchors_the_head_at_least_every_minute():
    from portal.celery import app

    schedule = app.conf.beat_schedule["audit anchor"]

    assert schedule["task"] == "portal.access.tasks.audit_anchor"
    assert schedule["schedule"] <= 60


# ----- the unkeyed chain of earlier releases -----


def _unkeyed_history(alice, count: int = 3) -> list[AuditEvent]:
    """Write events as releases before the key did: an unkeyed SHA-256 chain."""
    prev, events = GENESIS_HASH, []
    for n in range(count):
        event = AuditEvent(at=now(), actor=alice, actor_label="alice", action="test.old", details={"n": n})
        event.prev_hash = prev
        event.hash = prev = _unkeyed_hash(prev, event)
        event.save()
        events.append(event)
    return events


def test_an_unkeyed_chain_is_taken_over_by_one_keyed_event(alice):
    old = _unkeyed_history(alice)
    assert audit_verify().event_id == old[0].pk  # unkeyed events alone do not pass

    audit_chain_take_over()
    audit_chain_take_over()  # once only
    audit_record(actor=alice, action="test.new")

    switch = AuditEvent.objects.get(action=CHAIN_KEYED)
    assert switch.details == {"unkeyed_through": old[-1].pk} and switch.prev_hash == old[-1].hash
    assert audit_verify() is None


def test_an_unkeyed_event_rewritten_after_the_take_over_is_seen(alice):
    old = _unkeyed_history(alice)
    audit_chain_take_over()
    # Recompute the unkeyed part after an edit: anyone can, but the keyed event holds its old head.
    old[1].details = {"n": "edited"}
    prev = old[0].hash
    rows = []
    for event in old[1:]:
        event.prev_hash = prev
        event.hash = prev = _unkeyed_hash(prev, event)
        rows.append((json.dumps(event.details), event.prev_hash, event.hash, event.pk))
    with connection.cursor() as cursor, trigger_off():
        cursor.executemany(
            "UPDATE access_auditevent SET details = %s::jsonb, prev_hash = %s, hash = %s WHERE id = %s", rows
        )

    switch = AuditEvent.objects.get(action=CHAIN_KEYED)
    assert audit_verify().event_id == switch.pk


def test_moving_the_take_over_point_needs_the_key(alice):
    _unkeyed_history(alice)
    audit_chain_take_over()
    switch = AuditEvent.objects.get(action=CHAIN_KEYED)
    tamper(
        "UPDATE access_auditevent SET details = %s::jsonb WHERE id = %s",
        [json.dumps({"unkeyed_through": switch.pk + 100}), switch.pk],
    )

    assert audit_verify().event_id == switch.pk


# ----- concurrency -----


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_chain(alice):
    def write(n):
        try:
            for i in range(5):
                audit_record(actor=None, action="test.concurrent", details={"writer": n, "i": i})
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert AuditEvent.objects.count() == 20
    assert audit_verify() is None


@pytest.mark.django_db(transaction=True)
def test_a_writer_that_waited_for_the_chains_lock_chains_to_the_event_committed_meanwhile(alice):
    """The head is read once the lock is held, not as the waiting writer's statement began."""
    holding, release = threading.Event(), threading.Event()
    written = {}

    def first():
        try:
            with transaction.atomic():
                written["first"] = audit_record(actor=None, action="test.concurrent", details={"writer": 1})
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    def second():
        try:
            written["second"] = audit_record(actor=None, action="test.concurrent", details={"writer": 2})
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert holding.wait(30)
    threads[1].start()

    def waiting_for_the_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            return cursor.fetchone()[0] == 1

    assert wait_until(waiting_for_the_lock, timeout_seconds=30)
    release.set()
    for thread in threads:
        thread.join(30)

    assert written["second"].prev_hash == written["first"].hash
    assert audit_verify() is None


@pytest.mark.django_db(transaction=True)
def test_two_approvers_racing_move_the_request_exactly_once(alice, bob, carol, catalog, sent):
    # `sent` keeps the issue task from the broker: a worker of the test stack would move the request on.
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    barrier = threading.Barrier(2)
    outcomes = []

    def approve(user):
        try:
            barrier.wait()
            services.request_approve(actor=user, request_id=request.pk)
            outcomes.append("approved")
        except Exception as error:  # noqa: BLE001 - the outcome is what the test checks
            outcomes.append(type(error).__name__)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(user,)) for user in (bob, carol)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["InvalidTransition", "approved"]
    assert AccessRequest.objects.get(pk=request.pk).state == AccessRequest.State.APPROVED
    assert AuditEvent.objects.filter(request=request, action="request.approved").count() == 1
    assert request.approvals.count() == 1
    assert [name for name, _ in sent].count("issue_grant") == 1
    assert audit_verify() is None
