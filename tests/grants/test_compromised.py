"""A wrapping token used by someone else before its holder is noticed: the grant is revoked at once."""

import hvac
import pytest
from django.core import mail

from portal.access import services
from portal.access.models import AccessRequest, AuditEvent
from portal.celery import app
from portal.integrations import vault
from tests.grants.conftest import can_log_in, client_for, grant_for, wait_for_state
from tests.support.waiting import wait_until
from tests.vault.conftest import role_exists

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _steal(stack, grant: AccessRequest) -> dict:
    """Unwrap the grant's wrapping token out of band, as someone who read it somewhere would."""
    thief = hvac.Client(url=stack.vault_addr, token=grant.wrapped_secret.unseal())
    data = thief.sys.unwrap()["data"]
    return {
        "username": data["username"],
        "connection_uri": f"postgresql://{data['username']}:{data['password']}@127.0.0.1:{stack.ports.postgres}/shop",
    }


def test_a_stolen_wrapping_token_revokes_the_grant_at_its_reveal(stack, worker, people, catalog, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    grant = wait_for_state(grant_for(people["alice"], "orders-readwrite", approver=people["bob"]).pk, "active")
    stolen = _steal(stack, grant)
    assert can_log_in(stolen)

    response = client_for(people["alice"]).post(f"/api/v1/requests/{grant.pk}/credentials")

    assert response.status_code == 410
    assert response.json()["error"] == "credentials_compromised"
    assert "password" not in response.json()
    grant = wait_for_state(grant.pk, "revoked")
    assert grant.revealed_at is None and grant.wrapped_secret == ""
    compromised = AuditEvent.objects.get(request=grant, action="grant.compromised")
    assert compromised.actor_label == "system"
    assert list(AuditEvent.objects.filter(request=grant, id__gt=compromised.id).values_list("action", flat=True)) == [
        "grant.revoked"
    ]
    assert not vault.grant_token_alive(accessor=grant.vault_token_accessor)
    assert wait_until(lambda: not role_exists(stack, stolen["username"]), timeout_seconds=20)
    assert not can_log_in(stolen)

    # The page of the grant and the admins' dashboard say so; the history has the event.
    page = client_for(people["alice"]).get(f"/access/requests/{grant.pk}/").content.decode()
    assert "taken out of Vault before their holder revealed them" in page
    dashboard = client_for(people["carol"]).get("/access/dashboard/").content.decode()
    assert f'href="/access/requests/{grant.pk}/"' in dashboard
    history = client_for(people["carol"]).get("/access/audit/", {"action": "grant.compromised"}).content.decode()
    assert f"#{grant.pk}" in history


def test_the_holder_and_the_portal_admins_are_told(people, catalog, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    request = grant_for(people["alice"], "orders-readwrite", approver=people["bob"])
    AccessRequest.objects.filter(pk=request.pk).update(state="active", wrapped_secret="s.not-a-live-wrapping-token")

    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(services.CredentialsCompromised):
            services.grant_reveal(actor=people["alice"], request_id=request.pk)
    finally:
        app.conf.task_always_eager = False

    told = [message for message in mail.outbox if "taken out of Vault" in message.subject]
    assert [sorted(message.to) for message in told] == [["alice@contoso.example", "carol@contoso.example"]]
    assert AccessRequest.objects.get(pk=request.pk).state == "revoked"
