"""A grant with all its extensions is never held longer than its role's maximum, approved or automatic."""

from datetime import timedelta

from portal.access import policy, services
from portal.access.models import AccessRequest
from portal.core.clock import now
from tests.support.grants import client_for

State = AccessRequest.State
WHY = "Investigating the late orders of ticket OPS-12"


def active(user, role: str, minutes: int) -> AccessRequest:
    """Stand in for issuance (the Vault side): an active grant whose window is `minutes` long."""
    request = services.request_create(actor=user, role=role, justification=WHY)
    start = now()
    AccessRequest.objects.filter(pk=request.pk).update(
        state=State.ACTIVE, starts_at=start, ends_at=start + timedelta(minutes=minutes)
    )
    request.refresh_from_db()
    return request


def extend_api(user, grant, minutes):
    return client_for(user).post(
        f"/api/v1/requests/{grant.pk}/extend",
        {"duration_minutes": minutes, "justification": WHY},
        content_type="application/json",
    )


def window(grant) -> int:
    grant.refresh_from_db()
    return int((grant.ends_at - grant.starts_at).total_seconds() // 60)


def test_an_approved_extension_stops_at_the_roles_maximum_on_the_page_and_in_the_api(alice, bob, catalog):
    # orders-readwrite may be held 240 minutes; this grant has 230 of them.
    grant = active(alice, "orders-readwrite", 230)

    api = extend_api(alice, grant, 20)
    assert api.status_code == 400
    assert api.json()["fields"]["duration_minutes"] == [
        "At most 10 more minutes: Orders (read-write) may be held 240 minutes in all."
    ]
    page = client_for(alice).post(
        f"/access/requests/{grant.pk}/extend/", {"duration_minutes": 20, "justification": WHY}
    )
    assert page.status_code == 200
    assert page.context["form"].errors["duration_minutes"] == [
        "At most 10 more minutes: Orders (read-write) may be held 240 minutes in all."
    ]
    assert not grant.extensions.exists()

    extension = extend_api(alice, grant, 10).json()
    services.request_approve(actor=bob, request_id=extension["id"])
    assert window(grant) == 240
    assert policy.may_extend(alice, grant) is False
    refused = extend_api(alice, grant, 1)
    assert refused.status_code == 409
    assert "already runs for the longest Orders (read-write) allows" in refused.json()["detail"]
    assert f"/access/requests/{grant.pk}/extend/" not in client_for(alice).get("/").content.decode()


def test_an_automatic_role_cannot_be_extended_without_end(alice, catalog):
    # analytics-readonly needs no approval and may be held 480 minutes.
    grant = active(alice, "analytics-readonly", 60)

    for _ in range(10):
        if extend_api(alice, grant, 120).status_code != 201:
            break
    assert window(grant) == 420
    # The default duration (60 minutes) fits exactly; then nothing more does.
    assert (
        client_for(alice)
        .post(f"/api/v1/requests/{grant.pk}/extend", {"justification": WHY}, content_type="application/json")
        .status_code
        == 201
    )
    assert window(grant) == 480
    assert extend_api(alice, grant, 1).status_code == 409
    assert window(grant) == 480
