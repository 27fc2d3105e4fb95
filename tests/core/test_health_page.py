"""The admin health page: the state of every part, for portal admins only."""

from datetime import timedelta

import pytest

from portal.core.clock import now
from portal.core.models import Heartbeat
from portal.core.services import heartbeat_record

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_carol_as_portal_admin_sees_every_part(client, stack, sign_in):
    sign_in("carol")
    heartbeat_record(name="worker")

    response = client.get("/health/")

    assert response.status_code == 200
    checks = {check.name: check for check in response.context["checks"]}
    assert list(checks) == ["vault", "redis", "database", "worker", "sweeper"]
    assert checks["vault"].ok and checks["redis"].ok and checks["database"].ok
    assert checks["worker"].ok
    assert not checks["sweeper"].ok
    assert checks["sweeper"].detail == "never seen"
    assert response.context["ready"] is True
    assert b"Ready: Vault, Redis and the database work." in response.content


def test_a_stale_sweeper_is_shown_as_failing_without_making_the_portal_unready(client, stack, sign_in):
    sign_in("carol")
    Heartbeat.objects.create(name="sweeper", at=now() - timedelta(hours=1))

    response = client.get("/health/")

    sweeper = next(check for check in response.context["checks"] if check.name == "sweeper")
    assert not sweeper.ok
    assert "stale" in sweeper.detail
    assert response.context["ready"] is True


@pytest.mark.parametrize("name", ["alice", "bob", "erin"])
def test_users_who_are_not_portal_admins_are_refused(client, stack, sign_in, name):
    sign_in(name)

    response = client.get("/health/")

    assert response.status_code == 403


def test_an_anonymous_visitor_is_sent_to_sign_in(client, stack):
    response = client.get("/health/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
