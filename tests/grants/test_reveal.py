"""The holder reveals a grant's credentials once: the fields of the API, no caching, 410 afterwards."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from portal.access.models import AccessRequest, AuditEvent
from tests.grants.conftest import can_log_in, client_for, grant_for, reveal, wait_for_state

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _active_grant(people, role="analytics-readonly"):
    return wait_for_state(grant_for(people["alice"], role).pk, "active")


def test_reveal_answers_every_field_once_and_uncached(stack, worker, people, catalog):
    grant = _active_grant(people)

    response = client_for(people["alice"]).post(f"/api/v1/requests/{grant.pk}/credentials")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert set(body) == {"username", "password", "host", "port", "database", "connection_uri", "expires_at"}
    assert (body["host"], body["port"], body["database"]) == ("127.0.0.1", stack.ports.postgres, "shop")
    assert body["connection_uri"].startswith(f"postgresql://{body['username']}:")
    assert can_log_in(body)
    grant.refresh_from_db()
    assert grant.revealed_at is not None and grant.wrapped_secret == ""
    assert AuditEvent.objects.filter(request=grant, action="grant.revealed").count() == 1

    again = client_for(people["alice"]).post(f"/api/v1/requests/{grant.pk}/credentials")
    assert again.status_code == 410
    assert again.json()["error"] == "gone"
    assert "password" not in again.json()


def test_only_one_of_several_concurrent_reveals_gets_the_credentials(worker, people, catalog):
    grant = _active_grant(people)

    def attempt(_):
        try:
            return client_for(people["alice"]).post(f"/api/v1/requests/{grant.pk}/credentials").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(attempt, range(4)))

    assert statuses == [200, 410, 410, 410]


def test_nobody_but_the_holder_may_reveal(worker, people, catalog):
    grant = _active_grant(people)

    # carol is a portal admin: she sees the request, and still may not take its credentials.
    assert client_for(people["carol"]).post(f"/api/v1/requests/{grant.pk}/credentials").status_code == 403
    assert client_for(people["erin"]).post(f"/api/v1/requests/{grant.pk}/credentials").status_code == 404
    assert can_log_in(reveal(people["alice"], grant.pk))


def test_a_request_that_is_not_active_has_nothing_to_reveal(people, catalog):
    pending = grant_for(people["alice"], "orders-readwrite")

    response = client_for(people["alice"]).post(f"/api/v1/requests/{pending.pk}/credentials")

    assert response.status_code == 409
    assert AccessRequest.objects.get(pk=pending.pk).revealed_at is None


def test_reveal_answers_503_while_vault_is_down_and_keeps_the_wrapping_token(stack, worker, people, catalog):
    grant = _active_grant(people)
    stack.stop_vault()
    try:
        response = client_for(people["alice"]).post(f"/api/v1/requests/{grant.pk}/credentials")
        assert response.status_code == 503
        assert response.json()["error"] == "vault_unavailable"
        grant.refresh_from_db()
        assert grant.revealed_at is None and grant.wrapped_secret
    finally:
        stack.start_vault()
    # A development Vault forgets everything when it stops: the wrapping token is gone with it.
    assert client_for(people["alice"]).post(f"/api/v1/requests/{grant.pk}/credentials").status_code == 410


def test_where_a_roles_credentials_connect_is_asked_of_vault_once_a_minute_not_at_every_reveal(
    stack, worker, people, catalog, monkeypatch
):
    from django.core.cache import cache

    from portal.integrations import vault

    first = wait_for_state(grant_for(people["alice"], "orders-readwrite", approver=people["bob"]).pk, "active")
    second = wait_for_state(grant_for(people["bob"], "orders-readwrite", approver=people["carol"]).pk, "active")
    asked, connection_info = [], vault.connection_info
    monkeypatch.setattr(vault, "connection_info", lambda **kwargs: asked.append(kwargs) or connection_info(**kwargs))
    cache.clear()

    bodies = [reveal(people["alice"], first.pk), reveal(people["bob"], second.pk)]

    assert asked == [{"mount": "database", "role": "orders-readwrite"}]
    assert {(body["host"], body["port"], body["database"]) for body in bodies} == {
        ("127.0.0.1", stack.ports.postgres, "shop")
    }
    assert all(can_log_in(body) for body in bodies)
