"""One request read by its ID for its page, its API detail or an action: compiled once, and shown to exactly whom
the lists show it; its page's timeline and extensions, compiled too, as the ORM reads them."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.test import Client
from django.test.utils import CaptureQueriesContext

from portal.access import selectors, services
from portal.access.models import AccessRequest, AuditAction, AuditEvent
from portal.access.services.kernel import record
from portal.core.clock import now

pytestmark = pytest.mark.django_db

WHY = "Investigating the late orders of ticket OPS-12"


@pytest.fixture
def requests(alice, bob, carol, dave, catalog):
    """A grant of alice's with an extension, a denied request of alice's, a pending one of dave's."""
    grant = services.request_create(actor=alice, role="orders-readwrite", justification=WHY, duration_minutes=30)
    services.request_approve(actor=bob, request_id=grant.pk)
    start = now()
    AccessRequest.objects.filter(pk=grant.pk).update(
        state=AccessRequest.State.ACTIVE, starts_at=start, ends_at=start + timedelta(minutes=30)
    )
    extension = services.request_extend(actor=alice, request_id=grant.pk, duration_minutes=10, justification=WHY)
    denied = services.request_create(actor=alice, role="analytics-readonly", justification=WHY, duration_minutes=30)
    AccessRequest.objects.filter(pk=denied.pk).update(state=AccessRequest.State.DENIED)
    waiting = services.request_create(actor=dave, role="orders-admin", justification=WHY, ticket="OPS-1")
    return {"grant": grant.pk, "extension": extension.pk, "denied": denied.pk, "waiting": waiting.pk}


def test_one_request_is_shown_to_exactly_whom_the_lists_show_it(requests, alice, bob, carol, dave, erin):
    unknown = max(requests.values()) + 1000
    seen = {}
    for person in (alice, bob, carol, dave, erin):
        listed = set(selectors.requests_visible_to(person).values_list("pk", flat=True))
        for pk in [*requests.values(), unknown]:
            shown = selectors.request_visible_to(person, pk)
            assert (shown is not None) == (pk in listed), (person.username, pk)
            checked = selectors.request_checked_for(person, pk)
            assert (checked is not None) == (pk in listed), (person.username, pk)
            assert checked is None or (checked.pk, checked.extends_id) == (pk, shown.extends_id)
            assert shown is None or shown.pk == pk
            seen[person.pk, pk] = shown is not None

    # Each answer was possible: someone sees each request, and someone does not.
    assert any(seen.values()) and not all(seen.values())
    assert not any(seen[person.pk, unknown] for person in (alice, bob, carol, dave, erin))


def test_a_request_read_by_its_id_is_the_orms_with_its_role_requester_and_approvals(requests, alice):
    as_the_orm_reads_it = selectors.requests_visible_to(alice).get(pk=requests["grant"])

    with CaptureQueriesContext(connection) as read:
        shown = selectors.request_visible_to(alice, requests["grant"])
    with CaptureQueriesContext(connection) as used:
        approvals = [(a.pk, a.approver.username) for a in shown.approval_list]
        joined = (shown.role.slug, shown.requester.profile.upn, getattr(shown, "break_glass_use", None))
    with CaptureQueriesContext(connection) as checked:
        checked_only = selectors.request_checked_for(alice, requests["grant"])

    assert len(read) == 2  # the request with its role, requester and profile; its approvals
    assert len(used) == 0
    assert len(checked) == 1 and checked_only.extends_id is None
    fields = [field.attname for field in AccessRequest._meta.concrete_fields]
    assert [getattr(shown, name) for name in fields] == [getattr(as_the_orm_reads_it, name) for name in fields]
    assert approvals == [(a.pk, a.approver.username) for a in as_the_orm_reads_it.approval_list]
    assert joined == (
        as_the_orm_reads_it.role.slug,
        as_the_orm_reads_it.requester.profile.upn,
        getattr(as_the_orm_reads_it, "break_glass_use", None),
    )
    assert len(approvals) == 1


def test_a_grants_timeline_and_extensions_are_the_orms(requests):
    grant = AccessRequest.objects.get(pk=requests["grant"])

    timeline = selectors.request_timeline(grant)
    extensions = selectors.request_extensions(grant)

    orm_timeline = AuditEvent.objects.filter(Q(request=grant) | Q(request__extends=grant)).order_by("id")
    assert [(event.pk, event.action, event.request.pk) for event in timeline] == [
        (event.pk, event.action, event.request.pk) for event in orm_timeline
    ]
    assert {event.request_id for event in timeline} == {requests["grant"], requests["extension"]}
    assert [(r.pk, r.role.slug) for r in extensions] == [(requests["extension"], "orders-readwrite")]
    assert selectors.request_extensions(AccessRequest.objects.get(pk=requests["extension"])) == []


def test_a_request_that_never_started_has_no_extensions_to_read(requests):
    never_started = [AccessRequest.objects.get(pk=requests[name]) for name in ("denied", "waiting", "extension")]

    with CaptureQueriesContext(connection) as queries:
        found = [selectors.request_extensions(request) for request in never_started]

    assert found == [[], [], []]
    assert len(queries) == 0
    assert not AccessRequest.objects.filter(extends__in=never_started).exists()


def test_a_requests_page_says_it_was_compromised_from_the_timeline_it_shows(requests, alice):
    client = Client()
    client.force_login(alice)
    url = f"/access/requests/{requests['grant']}/"
    before = client.get(url).content.decode()
    grant = AccessRequest.objects.get(pk=requests["grant"])
    with transaction.atomic():
        record(actor=None, action=AuditAction.GRANT_COMPROMISED, request=grant)

    with CaptureQueriesContext(connection) as queries:
        after = client.get(url).content.decode()

    banner = "taken out of Vault before their holder revealed them"
    assert banner not in before and banner in after
    assert not any("grant_compromised" in query["sql"] for query in queries.captured_queries)


@pytest.mark.parametrize("request_id", [0, 2**31, 2**63, 10**20])
def test_an_id_beyond_any_requests_is_not_found_on_the_page_and_in_the_api(requests, alice, request_id):
    client = Client()
    client.force_login(alice)

    page = client.get(f"/access/requests/{request_id}/")
    detail = client.get(f"/api/v1/requests/{request_id}")
    revoke = client.post(f"/api/v1/requests/{request_id}/revoke", {}, content_type="application/json")

    assert page.status_code == 404
    assert (detail.status_code, detail.json()["error"]) == (404, "not_found")
    assert (revoke.status_code, revoke.json()["error"]) == (404, "not_found")


def test_each_lists_first_rows_are_the_orms_page_with_their_approvals(requests, alice, bob, carol, dave, erin):
    shown = {}
    for person in (alice, bob, carol, dave, erin):
        for scope in ("mine", "to_review", "all"):
            listing = selectors.requests_listed(person, scope)
            for limit in (1, 2, 51):
                as_the_orm_reads_them = list(listing.queryset[:limit])
                first = listing.first(limit)
                assert [r.pk for r in first] == [r.pk for r in as_the_orm_reads_them], (person.username, scope)
                assert [[a.pk for a in r.approval_list] for r in first] == [
                    [a.pk for a in r.approval_list] for r in as_the_orm_reads_them
                ]
                assert [(r.role.slug, r.requester.profile.upn) for r in first] == [
                    (r.role.slug, r.requester.profile.upn) for r in as_the_orm_reads_them
                ]
                shown[person.pk, scope, limit] = len(first)

    # Every list had something to show for someone, and the limits cut them.
    assert all(any(shown[p.pk, scope, 51] for p in (alice, bob, carol)) for scope in ("mine", "to_review", "all"))
    assert shown[carol.pk, "all", 1] == 1 and shown[carol.pk, "all", 51] == len(requests)
    assert shown[dave.pk, "to_review", 51] == 0


def test_the_apis_first_page_is_read_with_sql_compiled_once(requests, alice, monkeypatch):
    from django.db.models.sql.compiler import SQLCompiler

    client = Client()
    client.force_login(alice)
    first = client.get("/api/v1/requests?page_size=3").json()
    compiled = []
    as_sql = SQLCompiler.as_sql
    monkeypatch.setattr(SQLCompiler, "as_sql", lambda self, *a, **k: compiled.append(1) or as_sql(self, *a, **k))

    again = client.get("/api/v1/requests?page_size=3").json()
    second_page = client.get("/api/v1/requests?page_size=2&page=2").json()

    assert again == first and first["count"] == len(first["results"]) == 3
    assert [r["id"] for r in second_page["results"]] == [first["results"][2]["id"]]
    # The first page: nothing compiled; the second: the ORM's page and its count.
    assert len(compiled) == 2


def test_the_queues_first_page_is_the_orms_oldest_first_with_their_approvals(requests, alice, bob, carol, dave, erin):
    sizes = {}
    for person in (alice, bob, carol, dave, erin):
        queue = selectors.requests_to_review(person).order_by("created_at", "id")
        for limit in (1, 25):
            first = selectors.review_queue_of(person).first(limit)
            as_the_orm_reads_them = list(queue[:limit])
            assert [r.pk for r in first] == [r.pk for r in as_the_orm_reads_them], person.username
            assert [[a.pk for a in r.approval_list] for r in first] == [
                [a.pk for a in r.approval_list] for r in as_the_orm_reads_them
            ]
            sizes[person.pk, limit] = len(first)

    assert sizes[bob.pk, 25] >= 2 and sizes[bob.pk, 1] == 1
    assert sizes[alice.pk, 25] == sizes[dave.pk, 25] == 0


def test_the_lists_to_review_read_the_role_through_one_join(requests, bob):
    # A subquery of its own on the role made PostgreSQL plan seven tables for each list, most of its time.
    for listing in (selectors.requests_listed(bob, "to_review"), selectors.review_queue_of(bob)):
        with CaptureQueriesContext(connection) as read:
            assert listing.first(25)
        sql = read.captured_queries[0]["sql"]
        assert sql.count('JOIN "access_accessrole"') + sql.count('FROM "access_accessrole"') == 1, sql


def test_the_compiled_first_pages_kept_are_few_whatever_page_sizes_are_asked(requests, alice):
    from portal.access.selectors import _first_rows

    client = Client()
    client.force_login(alice)
    for size in range(1, 41):
        page = client.get(f"/api/v1/requests?page_size={size}").json()
        assert len(page["results"]) == min(size, 3)

    assert _first_rows.cache_info().currsize <= 16
