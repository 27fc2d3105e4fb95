"""An approved grant is issued by the worker, its credentials work for its tables only, and it ends on time."""

from datetime import timedelta

import psycopg
import pytest

from portal.access.models import AccessRequest, AuditEvent
from portal.core.clock import now
from portal.integrations import vault
from tests.grants.conftest import can_log_in, grant_for, reveal, wait_for_state
from tests.support.waiting import wait_until
from tests.vault.conftest import role_exists

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_approved_grant_reads_its_tables_only_and_ends_with_its_session_terminated(
    stack, worker, beat, people, catalog
):
    request = grant_for(people["alice"], "orders-readwrite", approver=people["bob"])

    grant = wait_for_state(request.pk, "active")
    assert grant.vault_token_accessor and vault.grant_token_alive(accessor=grant.vault_token_accessor)
    assert grant.ends_at - grant.starts_at == timedelta(minutes=1)
    body = reveal(people["alice"], grant.pk)
    session = psycopg.connect(body["connection_uri"], autocommit=True)
    assert session.execute("SELECT count(*) FROM orders").fetchone()[0] > 0
    assert session.execute("SELECT count(*) FROM customers").fetchone()[0] > 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        session.execute("SELECT count(*) FROM analytics")

    # The window passes: the sweeper ends the grant, Vault drops the role and its open session.
    AccessRequest.objects.filter(pk=grant.pk).update(ends_at=now())
    grant = wait_for_state(grant.pk, "expired")

    assert not vault.grant_token_alive(accessor=grant.vault_token_accessor)
    assert wait_until(lambda: not role_exists(stack, body["username"]), timeout_seconds=20)
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    assert not can_log_in(body)
    assert AuditEvent.objects.filter(request=grant, action="grant.expired").count() == 1
