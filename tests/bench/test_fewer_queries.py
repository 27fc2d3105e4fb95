"""What every page and list asks once, however many roles it shows: a person's review removals, and
whether they approve anything (both navigations ask)."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from portal.access import services
from portal.access.selectors import roles_eligible
from portal.devstack import tenant
from tests.support.personas import make_person

pytestmark = pytest.mark.django_db


def queries_on(captured, text: str) -> int:
    return sum(text in query["sql"] for query in captured.captured_queries)


def test_the_eligible_roles_read_the_persons_review_removals_once(catalog):
    groups = [tenant.GROUPS[name] for name in ("analytics-readers", "orders-engineers", "dba")]
    everyone = make_person(
        upn="all@contoso.example", oid="d0000000-0000-4000-8000-000000000001", display_name="All", group_ids=groups
    )

    with CaptureQueriesContext(connection) as captured:
        eligible = roles_eligible(everyone)

    assert len(eligible) == 3
    assert queries_on(captured, '"reviews_roleexclusion"') == 1
    # With the roles themselves: one query in all.
    assert len(captured.captured_queries) == 1


def test_the_navigation_asks_once_whether_the_person_approves_anything(catalog, bob):
    client = Client()
    client.force_login(bob)

    with CaptureQueriesContext(connection) as captured:
        page = client.get("/")

    assert page.status_code == 200
    assert "To review" in page.content.decode() and "Access reviews" in page.content.decode()
    assert queries_on(captured, '"approver_groups" @>') == 1


def test_my_access_reads_the_open_requests_in_one_query_and_the_historys_rows_without_approvals(catalog, alice, bob):
    from portal.access import services

    why = "Investigating the late orders of ticket OPS-12"
    ended = services.request_create(actor=alice, role="orders-readwrite", justification=why)
    services.request_cancel(actor=alice, request_id=ended.pk)
    waiting = services.request_create(actor=alice, role="orders-readwrite", justification=why)
    active = services.request_create(actor=alice, role="analytics-readonly", justification=why)
    client = Client()
    client.force_login(alice)

    with CaptureQueriesContext(connection) as captured:
        page = client.get("/")

    assert page.status_code == 200
    assert [item.pk for item, _ in page.context["pending"]] == [waiting.pk]
    assert [item.pk for item in page.context["active"]] == [active.pk]
    assert [item.pk for item in page.context["history"]] == [ended.pk]
    assert queries_on(captured, 'FROM "access_accessrequest"') == 1  # the open ones and the history, together
    assert queries_on(captured, 'FROM "access_approval"') == 1


def test_my_access_reads_the_break_glass_policies_with_the_roles_it_lists(catalog, dave):
    from portal.breakglass.models import BreakGlassPolicy
    from tests.breakglass.conftest import allow_break_glass

    allow_break_glass(catalog["orders-admin"], uses_allowed=3)
    client = Client()
    client.force_login(dave)

    with CaptureQueriesContext(connection) as captured:
        page = client.get("/")

    assert page.status_code == 200
    assert [option.role.slug for option in page.context["options"]] == ["orders-admin"]
    # The policy knows its role from the roles' read: its window (the role's maximum) takes no query either.
    assert BreakGlassPolicy.role.is_cached(page.context["options"][0].policy)
    assert "3 of 3 in 7 days" in page.content.decode()
    # One read of the roles, their policies and the person's review removals; then the uses left.
    assert queries_on(captured, '"breakglass_breakglasspolicy"') == 1
    assert queries_on(captured, '"reviews_roleexclusion"') == 1
    assert queries_on(captured, 'FROM "breakglass_breakglassuse"') == 1


def test_the_api_lists_requests_with_their_approvals_in_one_read_for_one_request_or_three(
    catalog, alice, bob, carol, dave
):
    from portal.access import services

    why = "Investigating the late orders of ticket OPS-12"
    client = Client()
    client.force_login(carol)

    def listed() -> tuple[list[int], int]:
        """Return how many approvals each listed request shows, and how many reads of approvals it took."""
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/api/v1/requests?scope=all")
        assert response.status_code == 200
        shown = [len(item["approvals"]) for item in response.json()["results"]]
        return shown, queries_on(captured, 'FROM "access_approval"')

    first = services.request_create(actor=alice, role="orders-readwrite", justification=why)
    services.request_approve(actor=bob, request_id=first.pk)
    one = listed()
    services.request_create(actor=alice, role="analytics-readonly", justification=why)
    admin = services.request_create(actor=dave, role="orders-admin", justification=why, ticket="OPS-12")
    services.request_approve(actor=bob, request_id=admin.pk)
    three = listed()

    assert one == ([1], 1)
    assert three == ([1, 0, 1], 1)


def test_the_approval_queue_counts_its_requests_once_for_its_heading_and_the_navigation(catalog, alice, bob, dave):
    services.request_create(actor=alice, role="orders-readwrite", justification="Investigate OPS-12")
    services.request_create(actor=dave, role="orders-admin", justification="Investigate OPS-12", ticket="OPS-12")
    client = Client()
    client.force_login(bob)

    with CaptureQueriesContext(connection) as captured:
        page = client.get("/access/review/").content.decode()

    assert '<p class="muted">2 waiting</p>' in page
    assert '<span class="count" aria-label="2 waiting">2</span>' in page
    counts = [query["sql"] for query in captured.captured_queries if "COUNT(" in query["sql"]]
    assert sum('"access_accessrequest"."state" = ' in sql and "?|" in sql for sql in counts) == 1
