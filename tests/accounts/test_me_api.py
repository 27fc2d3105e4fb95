"""GET /api/v1/me: who the caller is and what the portal lets them do."""

import pytest
from django.apps import apps

from portal.devstack import tenant
from tests.support.sign_in import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_me_returns_carols_identity_groups_and_admin_power(client, stack):
    sign_in(client, "carol")

    response = client.get("/api/v1/me")

    assert response.status_code == 200
    carol = tenant.USERS["carol"]
    assert response.json() == {
        "oid": carol.oid,
        "tid": tenant.TENANT_ID,
        "upn": carol.upn,
        "name": "Carol",
        "groups": sorted(carol.group_ids),
        "is_approver": False,
        "is_admin": True,
        "is_application": False,
    }


def test_erin_without_groups_is_neither_approver_nor_admin(client, stack):
    sign_in(client, "erin")

    body = client.get("/api/v1/me").json()

    assert body["groups"] == []
    assert body["is_admin"] is False
    assert body["is_approver"] is False


def test_me_without_a_session_is_401_with_the_api_error_body(client):
    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def _catalog_model():
    try:
        return apps.get_model("access", "AccessRole")
    except LookupError:
        return None


@pytest.mark.skipif(_catalog_model() is None, reason="the catalog model is not there yet")
def test_bob_is_an_approver_through_a_catalog_roles_approver_group(client, stack):
    access_role = _catalog_model()
    access_role.objects.create(
        slug="orders-readwrite",
        name="Orders read-write",
        vault_role="orders-readwrite",
        eligible_groups=[tenant.GROUPS["orders-engineers"]],
        approver_groups=[tenant.GROUPS["orders-approvers"]],
    )
    sign_in(client, "bob")
    bob = client.get("/api/v1/me").json()
    client.logout()
    sign_in(client, "alice")
    alice = client.get("/api/v1/me").json()

    assert bob["is_approver"] is True
    assert alice["is_approver"] is False
