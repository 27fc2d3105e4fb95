"""/readyz: 200 when Vault, Redis and the database work, 503 otherwise; no login, no secrets; checked at
most every few seconds, however many callers ask."""

import threading

import pytest
from django.test import Client, override_settings

from portal.core import health
from portal.devstack.processes import free_port
from portal.integrations import vault

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def fresh_answer():
    """Start each test without a remembered answer (each changes what the checks would find)."""
    health.clear_readiness_cache()
    yield
    health.clear_readiness_cache()


@pytest.fixture
def vault_calls(monkeypatch):
    """Count the readiness checks' calls to Vault."""
    calls = []
    real_health = vault.health

    def counted(**kwargs):
        calls.append(kwargs)
        return real_health(**kwargs)

    monkeypatch.setattr(vault, "health", counted)
    return calls


@pytest.fixture
def clock(monkeypatch):
    """Move the clock that ages the readiness answer."""
    now = [1000.0]
    monkeypatch.setattr(health, "_monotonic", lambda: now[0])
    return now


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


def test_many_anonymous_probes_within_a_few_seconds_ask_vault_once(client, stack, vault_calls, clock):
    answers = [client.get("/readyz") for _ in range(50)]
    clock[0] += 4

    answers.append(client.get("/readyz"))

    assert [answer.status_code for answer in answers] == [200] * 51
    assert len(vault_calls) == 1


def test_the_answer_is_checked_again_once_it_is_older_than_the_cache(client, stack, vault_calls, clock, settings):
    settings.READYZ_CACHE_SECONDS = 5
    client.get("/readyz")
    clock[0] += 5.1

    client.get("/readyz")

    assert len(vault_calls) == 2


def test_concurrent_probes_share_one_check(stack, vault_calls, clock, transactional_db):
    results = []

    def probe():
        results.append(Client().get("/readyz").status_code)

    threads = [threading.Thread(target=probe) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [200] * 10
    assert len(vault_calls) == 1


def test_a_failed_check_is_remembered_as_long_as_a_passed_one(client, stack, vault_calls, clock):
    with override_settings(VAULT_ADDR=f"http://127.0.0.1:{free_port()}"):
        first = client.get("/readyz")
    second = client.get("/readyz")
    clock[0] += 10
    third = client.get("/readyz")

    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert len(vault_calls) == 2
