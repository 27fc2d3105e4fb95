"""Vault down: a request waits for it and is issued when it is back; revocation is retried until done."""

import signal

import pytest

from portal.access.models import AccessRequest
from portal.core.clock import now
from portal.integrations import vault
from tests.grants.conftest import can_log_in, client_for, grant_for, reveal, wait_for_state
from tests.support.waiting import wait_until
from tests.vault.conftest import role_exists

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_request_waits_for_vault_and_is_issued_when_it_is_back(stack, worker, beat, people, catalog):
    stack.stop_vault()
    try:
        request = grant_for(people["alice"], "analytics-readonly")
        assert wait_until(lambda: AccessRequest.objects.get(pk=request.pk).last_error, timeout_seconds=20)
        waiting = AccessRequest.objects.get(pk=request.pk)
        assert waiting.state in ("approved", "issuing")
        shown = client_for(people["alice"]).get(f"/api/v1/requests/{request.pk}").json()
        assert shown["waiting_for_vault"] is True
        page = client_for(people["alice"]).get(f"/access/requests/{request.pk}/")
        assert b"Waiting for Vault" in page.content
    finally:
        stack.start_vault()

    grant = wait_for_state(request.pk, "active", timeout_seconds=60)

    assert grant.last_error == ""
    assert grant.issue_attempts >= 2
    assert can_log_in(reveal(people["alice"], grant.pk))


def test_revocation_at_the_end_is_retried_until_vault_answers_again(stack, worker, beat, people, catalog):
    grant = wait_for_state(grant_for(people["alice"], "analytics-readonly").pk, "active")
    body = reveal(people["alice"], grant.pk)
    openbao = stack.processes["openbao"]
    # A paused Vault keeps its tokens and leases, and answers nothing: calls time out.
    openbao.signal(signal.SIGSTOP)
    try:
        AccessRequest.objects.filter(pk=grant.pk).update(ends_at=now())
        assert wait_until(
            lambda: AccessRequest.objects.filter(pk=grant.pk, state="revoking").exclude(last_error="").exists(),
            timeout_seconds=40,
        )
    finally:
        openbao.signal(signal.SIGCONT)

    grant = wait_for_state(grant.pk, "expired", timeout_seconds=60)

    assert not vault.grant_token_alive(accessor=grant.vault_token_accessor)
    assert wait_until(lambda: not role_exists(stack, body["username"]), timeout_seconds=20)
    assert not can_log_in(body)
