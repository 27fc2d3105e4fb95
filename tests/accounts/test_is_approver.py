"""Whether someone approves anything: one read, compiled once, whatever the number of their groups."""

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from portal.access.models import AccessRole
from portal.accounts.selectors import is_approver, user_groups
from portal.devstack import tenant
from tests.support.personas import make_person

pytestmark = pytest.mark.django_db


def as_the_orm_asks(user) -> bool:
    in_any_group = Q()
    for group in user_groups(user):
        in_any_group |= Q(approver_groups__contains=[group])
    return bool(user_groups(user)) and AccessRole.objects.filter(in_any_group).exists()


def test_it_answers_as_one_containment_per_group_would(catalog, alice, bob, carol, dave, erin):
    others = [f"e0000000-0000-4000-8000-{number:012d}" for number in range(30)]
    many = make_person(
        upn="many@contoso.example",
        oid="d0000000-0000-4000-8000-000000000002",
        display_name="Many",
        group_ids=[*others, tenant.GROUPS["orders-approvers"]],
    )
    none_approve = make_person(
        upn="none@contoso.example", oid="d0000000-0000-4000-8000-000000000003", display_name="None", group_ids=others
    )
    answers = {}
    for person in (alice, bob, carol, dave, erin, many, none_approve):
        with CaptureQueriesContext(connection) as queries:
            answers[person.pk] = is_approver(person)
        assert answers[person.pk] == as_the_orm_asks(person), person.username
        assert len(queries) <= 1 and all('"approver_groups" @>' in query["sql"] for query in queries)

    assert answers[bob.pk] and answers[many.pk]
    assert not answers[alice.pk] and not answers[none_approve.pk] and not answers[erin.pk]
