"""Each transition locks its request with what its guards read: role, requester and their groups, in one query."""

import pytest
from django.db import transaction

from portal.access import services
from portal.access.services import kernel

pytestmark = pytest.mark.django_db


def test_the_locked_request_brings_its_role_and_the_requesters_groups(alice, catalog, django_assert_num_queries):
    request = services.request_create(actor=alice, role="orders-readwrite", justification="Fix order 1042 today")

    with transaction.atomic(), django_assert_num_queries(1):
        locked = kernel.locked(request.pk)
        assert locked.role.slug == "orders-readwrite"
        assert locked.requester.profile.groups == alice.profile.groups
