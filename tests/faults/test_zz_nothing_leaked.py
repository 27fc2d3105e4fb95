"""Last in the suite: no password issued during the run is anywhere, and the audit chain catches an edit.

Named to run after the other fault scenarios, so its scans cover everything they did.
"""

import base64

import pytest
import redis
from django.core import mail
from django.core.management import CommandError, call_command

from portal.access import services
from portal.access.models import AccessRequest, AuditEvent
from tests.faults.conftest import (
    ISSUED_PASSWORDS,
    LOG_LINES,
    database_dump,
    leaked,
    process_logs,
    redis_contents,
    reveal_and_remember,
)
from tests.grants.conftest import WHY, can_log_in, grant_for, wait_for_state
from tests.support.audit_tamper import tamper

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_no_password_issued_during_the_run_is_in_the_database_redis_the_logs_or_an_e_mail(
    stack, worker, beat, people, catalog
):
    # One grant of this test's own, so that the scan always has a password to look for.
    grant = wait_for_state(grant_for(people["alice"], "analytics-readonly").pk, "active", timeout_seconds=60)
    assert can_log_in(reveal_and_remember(people["alice"], grant.pk))
    services.grant_revoke(actor=people["alice"], request_id=grant.pk, reason="Done")
    wait_for_state(grant.pk, "revoked", timeout_seconds=60)

    assert ISSUED_PASSWORDS
    assert not leaked(ISSUED_PASSWORDS, database_dump(stack)), "in the portal database"
    assert not leaked(ISSUED_PASSWORDS, redis_contents(stack)), "in Redis"
    assert not leaked(ISSUED_PASSWORDS, "\n".join(LOG_LINES)), "in this process's logs"
    assert not leaked(ISSUED_PASSWORDS, process_logs(stack)), "in a worker's, beat's or service's output"
    outbox = "\n".join(f"{message.subject}\n{message.body}" for message in getattr(mail, "outbox", []))
    assert not leaked(ISSUED_PASSWORDS, outbox), "in an e-mail"


def test_the_scans_find_a_secret_planted_where_they_look(stack, people, catalog):
    marker = "planted-7f3c9a2e-not-a-real-password"
    request = grant_for(people["alice"], "orders-readwrite")
    AccessRequest.objects.filter(pk=request.pk).update(last_error=f"oops {marker}")
    client = redis.Redis.from_url(stack.redis_url)
    # As a Celery message would carry it: base64 in the message's body.
    client.rpush("latchkey-test-planted", f'{{"body": "{base64.b64encode(marker.encode()).decode()}"}}')
    try:
        assert leaked([marker], database_dump(stack)) == [marker]
        assert leaked([marker], redis_contents(stack)) == [marker]
    finally:
        client.delete("latchkey-test-planted")
        AccessRequest.objects.filter(pk=request.pk).update(last_error="")


def test_verify_audit_passes_and_then_fails_after_a_row_is_edited_in_sql(people, catalog):
    services.request_create(actor=people["alice"], role="orders-readwrite", justification=WHY)
    call_command("verify_audit")
    event = AuditEvent.objects.order_by("id").first()
    table = AuditEvent._meta.db_table
    tamper(f"UPDATE {table} SET action = %s WHERE id = %s", ["request.cancelled", event.pk])
    try:
        with pytest.raises(CommandError, match=f"#{event.pk}"):
            call_command("verify_audit")
    finally:
        tamper(f"UPDATE {table} SET action = %s WHERE id = %s", [event.action, event.pk])
    call_command("verify_audit")
