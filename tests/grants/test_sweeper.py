"""The sweeper: the database says what is due, two sweepers at once do no harm, and it reports its runs."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection

from portal.access import services, tasks
from portal.access.models import AccessRequest, AuditEvent
from portal.core import queue
from portal.core.clock import now
from portal.core.models import Heartbeat
from portal.integrations import vault
from tests.grants.conftest import WHY, grant_for, wait_for_state

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_two_sweepers_at_once_end_each_grant_once(worker, people, catalog):
    requests = [
        grant_for(people["alice"], "analytics-readonly"),
        grant_for(people["alice"], "orders-readwrite", approver=people["bob"]),
        grant_for(people["bob"], "orders-readwrite", approver=people["carol"]),
    ]
    for request in requests:
        wait_for_state(request.pk, "active")
    AccessRequest.objects.filter(pk__in=[r.pk for r in requests]).update(ends_at=now())

    def sweep(_):
        try:
            return services.grants_sweep()["ended"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        ended = sum(pool.map(sweep, range(3)))

    assert ended == 3
    for request in requests:
        wait_for_state(request.pk, "expired")
        assert AuditEvent.objects.filter(request_id=request.pk, action="grant.ended").count() == 1
        assert AuditEvent.objects.filter(request_id=request.pk, action="grant.expired").count() == 1


def test_an_expire_task_ends_the_grant_and_revokes_its_token_itself(people, catalog, monkeypatch):
    sent = []
    monkeypatch.setattr(queue, "send", lambda task, *args, eta=None: sent.append(task.rsplit(".", 1)[1]))
    request = services.request_create(
        actor=people["alice"], role="analytics-readonly", justification=WHY, duration_minutes=5
    )
    services.grant_issue(request_id=request.pk)
    AccessRequest.objects.filter(pk=request.pk).update(ends_at=now())
    sent.clear()

    tasks.expire_grant(request.pk)

    request.refresh_from_db()
    assert request.state == "expired"
    assert not vault.grant_token_alive(accessor=request.vault_token_accessor)
    # No second task for the revocation: only the holder's e-mail.
    assert sent == ["notify_email"]
    assert AuditEvent.objects.filter(request_id=request.pk, action="grant.ended").count() == 1
    assert AuditEvent.objects.filter(request_id=request.pk, action="grant.expired").count() == 1


def test_beat_runs_the_sweeper_which_issues_a_request_whose_start_has_come(worker, beat, people, catalog):
    later = now() + timedelta(hours=1)
    request = services.request_create(
        actor=people["alice"], role="analytics-readonly", justification=WHY, duration_minutes=1, starts_at=later
    )
    assert AccessRequest.objects.get(pk=request.pk).state == "approved"
    # The start comes: nothing was queued for it, only the database knows.
    AccessRequest.objects.filter(pk=request.pk).update(requested_starts_at=now())

    wait_for_state(request.pk, "active")

    assert Heartbeat.objects.filter(name="sweeper").exists()


def test_sweeper_expires_stale_pending_requests(worker, people, catalog):
    request = grant_for(people["alice"], "orders-readwrite")
    AccessRequest.objects.filter(pk=request.pk).update(created_at=now().replace(year=2000))

    services.grants_sweep()

    assert AccessRequest.objects.get(pk=request.pk).state == "expired"
