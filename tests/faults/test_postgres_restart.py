"""The portal's PostgreSQL restarted while approvers decide: each decision is whole or absent, the chain verifies."""

import threading
import time

import pytest
from django.db import DatabaseError, connections

from portal.access import services
from portal.access.models import AccessRequest, Approval, AuditEvent
from portal.core.errors import DomainError
from tests.faults.conftest import engineer
from tests.grants.conftest import WHY

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REQUESTS = 30


def test_no_decision_is_half_applied_when_the_database_restarts_under_the_approvers(stack, people, catalog):
    requests = [
        services.request_create(
            actor=engineer(f"engineer{number}", "orders-engineers"), role="orders-readwrite", justification=WHY
        )
        for number in range(REQUESTS)
    ]
    outcomes: dict[int, str] = {}
    started = threading.Event()

    def approve(approver, share):
        try:
            for request in share:
                try:
                    services.request_approve(actor=approver, request_id=request.pk, comment="ok")
                    outcomes[request.pk] = "approved"
                    started.set()
                except (DatabaseError, DomainError) as error:
                    outcomes[request.pk] = type(error).__name__
                    connections.close_all()
                    time.sleep(0.2)
                time.sleep(0.1)
        finally:
            connections.close_all()

    deciders = [
        threading.Thread(target=approve, args=(people[name], requests[index::2]))
        for index, name in enumerate(("bob", "carol"))
    ]
    for thread in deciders:
        thread.start()
    assert started.wait(30)
    stack.processes.pop("postgres").stop()
    stack.start_postgres()
    for thread in deciders:
        thread.join(120)
    connections.close_all()

    assert len(outcomes) == REQUESTS
    assert "approved" in outcomes.values()
    assert set(outcomes.values()) - {"approved"}, f"no decision met the restart: {outcomes}"
    for request in requests:
        state = AccessRequest.objects.get(pk=request.pk).state
        approvals = Approval.objects.filter(request=request).count()
        events = AuditEvent.objects.filter(request=request)
        recorded = (events.filter(action="request.approval").count(), events.filter(action="request.approved").count())
        # An approved request may already be issued by a worker of an earlier scenario: still one decision.
        decided = "approved" if state in ("approved", "issuing", "active") else state
        assert (decided, approvals, recorded) in (("pending", 0, (0, 0)), ("approved", 1, (1, 1))), (
            request.pk,
            outcomes[request.pk],
        )
        # A decision that the approver saw succeed is in the database.
        if outcomes[request.pk] == "approved":
            assert decided == "approved"
