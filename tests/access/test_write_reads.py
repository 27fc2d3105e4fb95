"""What every write reads besides its row: the role asked for by its slug (SQL compiled once, as the ORM reads
it), with what a new request checks first in the same read, and the audit chain's head, read with its lock in
one round trip."""

import pytest
from django.db import connection, transaction
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext

from portal.access import policy, selectors, services
from portal.access.audit import GENESIS_HASH, _lock_chain_at_head, audit_record
from portal.access.models import AccessRole, AuditAction, AuditEvent
from portal.core.errors import InvalidTransition, NotAllowed, NotFound
from portal.reviews.exclusions import excluded_from_role
from tests.support.grants import removed_by_a_review

pytestmark = pytest.mark.django_db

WHY = "Investigating the late orders of ticket OPS-12"


@pytest.fixture
def compiled_selects(monkeypatch):
    compiled = []
    as_sql = SQLCompiler.as_sql
    monkeypatch.setattr(SQLCompiler, "as_sql", lambda self, *a, **k: compiled.append(1) or as_sql(self, *a, **k))
    return compiled


def test_a_role_asked_for_by_its_slug_is_the_orms(catalog, compiled_selects):
    policy.offered_role("orders-admin")
    compiled_selects.clear()

    slugs = ("orders-readwrite", "analytics-readonly", "orders-readwrite")
    found = [policy.offered_role(slug).pk for slug in slugs]
    compiled = len(compiled_selects)

    assert compiled == 0
    assert found == [AccessRole.objects.get(slug=slug).pk for slug in slugs]
    AccessRole.objects.filter(slug="orders-admin").update(enabled=False)
    for slug in ("orders-admin", "no-such-role"):
        with pytest.raises(NotFound):
            policy.offered_role(slug)


def _newest_hash() -> str:
    return AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS_HASH


def test_each_event_chains_to_the_newest_as_the_orm_reads_it(alice, catalog, compiled_selects):
    with transaction.atomic():
        assert _lock_chain_at_head() == _newest_hash()
    with transaction.atomic():
        first = audit_record(actor=alice, action=AuditAction.CATALOG_ROLE_UPDATED, details={"n": 1})
    compiled_selects.clear()

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        second = audit_record(actor=alice, action=AuditAction.CATALOG_ROLE_UPDATED, details={"n": 2})
        third = audit_record(actor=alice, action=AuditAction.CATALOG_ROLE_UPDATED, details={"n": 3})

    compiled = len(compiled_selects)
    assert compiled == 0
    # Each event: one call that takes the lock and reads the head, and its INSERT.
    assert [query["sql"].split("(")[0] for query in queries.captured_queries] == [
        "SELECT latchkey_audit_chain_head",
        'INSERT INTO "access_auditevent" ',
    ] * 2
    assert (second.prev_hash, third.prev_hash) == (first.hash, second.hash)
    with transaction.atomic():
        assert _lock_chain_at_head() == third.hash == _newest_hash()


def test_a_new_request_reads_its_role_the_review_removal_and_the_open_request_as_the_orm_does(alice, dave, catalog):
    mine = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    analytics = AccessRole.objects.get(slug="analytics-readonly")
    assert policy.eligibility(analytics, alice)
    removed_by_a_review(alice, analytics)

    for person in (alice, dave):
        for slug in ("orders-readwrite", "analytics-readonly", "orders-admin", "no-such-role"):
            asked = selectors.role_asked_for(person, slug)
            role = AccessRole.objects.filter(slug=slug).first()
            if role is None:
                assert asked is None
                continue
            open_one = selectors.open_request_for(user=person, role=role)
            assert (asked.pk, asked.excluded_by_review, asked.open_request_id, asked.open_request_state) == (
                role.pk,
                excluded_from_role(role, person),
                open_one.pk if open_one else None,
                open_one.state if open_one else None,
            )
    assert selectors.role_asked_for(alice, "orders-readwrite").open_request_id == mine.pk
    assert selectors.role_asked_for(alice, "analytics-readonly").excluded_by_review

    # A second request for the same role is refused after that one read, the removed person's at once.
    alice.profile  # noqa: B018 - the caller comes with their profile, as every call's does
    with CaptureQueriesContext(connection) as queries, pytest.raises(InvalidTransition, match=f"#{mine.pk}"):
        services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries, pytest.raises(NotAllowed, match="not in a group"):
        services.request_create(actor=alice, role=analytics, justification=WHY)
    assert len(queries) == 1
