"""The audit trail is append-only and its hash chain exposes an edited or a removed row."""

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from portal.access import services
from portal.access.audit import audit_record, audit_verify
from portal.access.models import AccessRequest, AppendOnly, AuditEvent

WHY = "Investigating the late orders of ticket OPS-12"


def _three_events(alice, bob):
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    services.request_approve(actor=bob, request_id=request.pk)
    return list(AuditEvent.objects.order_by("id"))


def test_events_are_chained_by_hash(alice, bob, catalog):
    events = _three_events(alice, bob)

    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    assert audit_verify() is None
    call_command("verify_audit")


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


def test_verify_audit_names_a_row_edited_with_raw_sql(alice, bob, catalog):
    events = _three_events(alice, bob)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE access_auditevent SET actor_label = 'mallory' WHERE id = %s", [events[1].pk])

    with pytest.raises(CommandError, match=f"#{events[1].pk}"):
        call_command("verify_audit")


def test_verify_audit_names_the_row_after_a_deleted_one(alice, bob, catalog):
    events = _three_events(alice, bob)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM access_auditevent WHERE id = %s", [events[1].pk])

    broken = audit_verify()
    assert broken is not None and broken.event_id == events[2].pk
    with pytest.raises(CommandError, match="removed"):
        call_command("verify_audit")


def test_the_acting_requests_ip_and_user_agent_are_recorded(alice, catalog, rf):
    http = rf.post("/", REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="curl/8")
    event = audit_record(actor=alice, action="test.event", http_request=http, details={"n": 1})

    assert (event.ip, event.user_agent, event.actor_label) == ("10.1.2.3", "curl/8", "alice@contoso.example")


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
def test_two_approvers_racing_move_the_request_exactly_once(alice, bob, carol, catalog):
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
    assert audit_verify() is None
