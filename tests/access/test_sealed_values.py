"""A wrapping token stays sealed until the reveal: loading never opens it, and one no key opens never blocks."""

from datetime import timedelta
from unittest import mock

from django.test import override_settings

from portal.access import services
from portal.access.fields import Sealed
from portal.access.models import AccessRequest, AuditEvent
from portal.core.clock import now
from tests.support.grants import client_for

State = AccessRequest.State
WHY = "Investigating the late orders of ticket OPS-12"
OLD, NEW = "the-key-before-rotation", "the-key-after-rotation"


def sealed_grant(user, *, key: str) -> AccessRequest:
    """An active grant of `user` whose wrapping token was sealed under `key` (issuance stood in for)."""
    request = services.request_create(actor=user, role="analytics-readonly", justification=WHY)
    start = now()
    with override_settings(CREDENTIAL_ENCRYPTION_KEYS=[key]):
        AccessRequest.objects.filter(pk=request.pk).update(
            state=State.ACTIVE,
            starts_at=start,
            ends_at=start + timedelta(minutes=60),
            wrapped_secret="s.a-wrapping-token",
        )
    return request


def test_loading_and_showing_a_grant_never_unseals_its_wrapping_token(alice, carol, catalog):
    grant = sealed_grant(alice, key=OLD)

    with mock.patch("portal.access.fields.unseal", side_effect=AssertionError("unsealed")) as unseal:
        loaded = AccessRequest.objects.get(pk=grant.pk)
        assert isinstance(loaded.wrapped_secret, Sealed) and loaded.wrapped_secret
        assert "s.a-wrapping-token" not in repr(loaded.wrapped_secret)
        assert client_for(alice).get(f"/access/requests/{grant.pk}/").status_code == 200
        assert client_for(alice).get(f"/api/v1/requests/{grant.pk}").status_code == 200
        assert client_for(carol).get("/access/grants/").status_code == 200
        # Saved as loaded: stored as it was, not sealed a second time.
        loaded.save()
    unseal.assert_not_called()
    with override_settings(CREDENTIAL_ENCRYPTION_KEYS=[NEW, OLD]):
        assert AccessRequest.objects.get(pk=grant.pk).wrapped_secret.unseal() == "s.a-wrapping-token"


def test_a_revocation_goes_on_when_no_key_opens_the_sealed_value(alice, catalog):
    grant = sealed_grant(alice, key=OLD)

    with override_settings(CREDENTIAL_ENCRYPTION_KEYS=[NEW]):
        services.grant_revoke(actor=alice, request_id=grant.pk, reason="Done early")
        services.grant_revoke_finish(request_id=grant.pk)

    grant.refresh_from_db()
    assert grant.state == State.REVOKED and grant.wrapped_secret == ""


def test_a_value_no_key_opens_is_dropped_at_the_reveal_on_the_page_and_in_the_api(alice, catalog):
    by_page = sealed_grant(alice, key=OLD)
    AccessRequest.objects.filter(pk=by_page.pk).update(role=catalog["orders-readwrite"])
    by_api = sealed_grant(alice, key=OLD)

    with override_settings(CREDENTIAL_ENCRYPTION_KEYS=[NEW]):
        page = client_for(alice).post(f"/access/requests/{by_page.pk}/reveal/")
        api = client_for(alice).post(f"/api/v1/requests/{by_api.pk}/credentials")

    assert page.status_code == 410 and "sealed with a key the portal no longer has" in page.content.decode()
    assert api.status_code == 410 and "sealed with a key the portal no longer has" in api.json()["detail"]
    for grant in (by_page, by_api):
        grant.refresh_from_db()
        assert grant.wrapped_secret == "" and grant.revealed_at is None
        assert grant.state == State.REVOKING and grant.closing_as == State.REVOKED
        assert AuditEvent.objects.filter(request=grant, action="grant.sealed_value_dropped").count() == 1
