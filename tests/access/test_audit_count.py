"""The audit API's `count` stays exact while the trail grows, without counting the whole trail on each call."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.access.audit import audit_count, audit_record
from portal.access.models import AccessRole, AuditEvent
from tests.support.audit_tamper import tamper
from tests.support.grants import client_for


def _counted(client, query: str = "") -> tuple[int, list[str]]:
    """Return the API's count for `query` and the SQL of the counts it ran for it."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/v1/audit{query}")
    assert response.status_code == 200, response.content
    return response.json()["count"], [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def _write(alice, n: int, *, action: str = "test.event", role=None) -> None:
    for index in range(n):
        audit_record(actor=alice, action=action, role=role, details={"n": index})


def test_the_count_is_exact_as_events_are_added_and_only_the_new_ones_are_counted(alice, carol, catalog):
    admin = client_for(carol)
    _write(alice, 3)
    first, counts = _counted(admin)
    assert first == AuditEvent.objects.count()
    assert len(counts) == 1 and '"id" >' not in counts[0]

    again, counts = _counted(admin)
    assert again == first and counts == []  # nothing new: the count is carried as it is

    _write(alice, 4)
    later, counts = _counted(admin)
    assert later == AuditEvent.objects.count() == first + 4
    assert len(counts) == 1 and '"id" >' in counts[0]  # only the events after the last count


def test_a_filter_is_counted_apart_from_the_others(alice, carol, catalog):
    admin = client_for(carol)
    _write(alice, 2, action="test.kept")
    _write(alice, 5, action="test.other")

    assert _counted(admin, "?action=test.kept")[0] == 2
    assert _counted(admin, "?action=test.other")[0] == 5
    _write(alice, 1, action="test.kept")
    assert _counted(admin, "?action=test.kept")[0] == 3
    assert _counted(admin, "?action=test.other")[0] == 5


def test_a_count_carried_from_an_event_that_is_gone_is_counted_again(alice, carol, catalog):
    admin = client_for(carol)
    _write(alice, 3)
    _counted(admin)
    head = AuditEvent.objects.order_by("-id").first()
    tamper("DELETE FROM access_auditevent WHERE id = %s", [head.pk])
    _write(alice, 2)

    count, counts = _counted(admin)

    assert count == AuditEvent.objects.count()
    assert len(counts) == 1 and '"id" >' not in counts[0]


def test_a_role_filter_follows_the_role_not_its_slug(alice, carol, catalog):
    admin = client_for(carol)
    role = AccessRole.objects.get(slug="orders-readwrite")
    _write(alice, 2, action="test.role", role=role)
    assert _counted(admin, "?role=orders-readwrite&action=test.role")[0] == 2

    AccessRole.objects.filter(pk=role.pk).update(slug="orders-writers")

    assert _counted(admin, "?role=orders-readwrite&action=test.role")[0] == 0
    body = admin.get("/api/v1/audit?role=orders-writers&action=test.role").json()
    assert body["count"] == 2 and len(body["results"]) == 2


def test_an_unknown_role_counts_nothing(alice, carol, catalog):
    _write(alice, 2)
    response = client_for(carol).get("/api/v1/audit?role=no-such-role")
    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}
    assert audit_count(AuditEvent.objects.none()) == 0
