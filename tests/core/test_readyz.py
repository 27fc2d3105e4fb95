"""/readyz: 200 when Vault, Redis and the database work, 503 otherwise; no login, no secrets."""

import pytest
from django.test import override_settings

from portal.devstack.processes import free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_readyz_answers_200_with_the_stack_up_and_without_signing_in(client, stack):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"vault": True, "redis": True, "database": True}}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_answers_503_when_redis_does_not_answer(client, stack):
    with override_settings(CELERY_BROKER_URL=f"redis://:hunter2-broker-password@127.0.0.1:{free_port()}/0"):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"vault": True, "redis": False, "database": True}
    assert b"hunter2" not in response.content


def test_readyz_answers_503_when_vault_does_not_answer(client, stack):
    with override_settings(VAULT_ADDR=f"http://127.0.0.1:{free_port()}"):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["vault"] is False


def test_readyz_shows_no_secret_of_the_portal(client, stack):
    response = client.get("/readyz")

    for secret in (stack.portal_secret_id, stack.portal_role_id, stack.postgres_password, stack.credential_key):
        assert secret.encode() not in response.content
