"""The Vault side's transitions one by one: guards, retry limits and history (Vault replaced at its module)."""

from datetime import timedelta
from unittest import mock

import pytest

from portal.access import services
from portal.access.models import AccessRequest, AuditEvent
from portal.core.clock import now
from portal.core.errors import InvalidTransition, NotAllowed
from portal.integrations import vault
from tests.grants.conftest import WHY
from tests.support.fixtures import DEMO_CATALOG
from tests.support.personas import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(catalog):
    return make_user("alice")


@pytest.fixture
def catalog(db):
    from portal.access.catalog import catalog_import

    catalog_import(DEMO_CATALOG.read_text(), source=str(DEMO_CATALOG))


def _approved(user, **kwargs):
    return services.request_create(
        actor=user, role="analytics-readonly", justification=WHY, duration_minutes=1, **kwargs
    )


def test_issuing_waits_for_vault_and_fails_only_after_the_attempt_limit(alice, settings):
    settings.GRANT_ISSUE_MAX_ATTEMPTS = 3
    request = _approved(alice)
    down = vault.VaultUnavailable("Vault at http://vault did not answer: ConnectionError.")

    with mock.patch.object(vault, "create_grant_token", side_effect=down):
        for attempt in (1, 2):
            with pytest.raises(vault.VaultUnavailable):
                services.grant_issue(request_id=request.pk)
            waiting = AccessRequest.objects.get(pk=request.pk)
            assert (waiting.state, waiting.issue_attempts) == ("approved", attempt)
            assert "did not answer" in waiting.last_error
        with pytest.raises(vault.VaultUnavailable):
            services.grant_issue(request_id=request.pk)

    failed = AccessRequest.objects.get(pk=request.pk)
    assert (failed.state, failed.issue_attempts) == ("failed", 3)
    assert AuditEvent.objects.filter(request=failed, action="grant.issue_failed").count() == 1


def test_a_token_whose_credentials_cannot_be_read_is_revoked_before_the_retry(alice):
    request = _approved(alice)
    token = vault.GrantToken(token="t", accessor="acc-1", expires_at=now() + timedelta(minutes=1))

    with (
        mock.patch.object(vault, "create_grant_token", return_value=token),
        mock.patch.object(vault, "read_wrapped_credentials", side_effect=vault.VaultUnavailable("down")),
        mock.patch.object(vault, "revoke_grant_token") as revoke,
        pytest.raises(vault.VaultUnavailable),
    ):
        services.grant_issue(request_id=request.pk)

    revoke.assert_called_once_with(accessor="acc-1")
    request.refresh_from_db()
    assert (request.state, request.vault_token_accessor) == ("approved", "")


def test_a_token_that_cannot_be_revoked_stays_recorded_for_recovery(alice):
    request = _approved(alice)
    token = vault.GrantToken(token="t", accessor="acc-2", expires_at=now() + timedelta(minutes=1))

    with (
        mock.patch.object(vault, "create_grant_token", return_value=token),
        mock.patch.object(vault, "read_wrapped_credentials", side_effect=vault.VaultUnavailable("down")),
        mock.patch.object(vault, "revoke_grant_token", side_effect=vault.VaultUnavailable("down")),
        pytest.raises(vault.VaultUnavailable),
    ):
        services.grant_issue(request_id=request.pk)

    request.refresh_from_db()
    assert (request.state, request.vault_token_accessor) == ("issuing", "acc-2")


def test_a_requester_who_left_the_eligible_groups_is_not_issued(alice):
    request = _approved(alice)
    alice.profile.groups = []
    alice.profile.save()

    with mock.patch.object(vault, "create_grant_token") as create:
        services.grant_issue(request_id=request.pk)

    create.assert_not_called()
    request.refresh_from_db()
    assert request.state == "failed"
    assert AuditEvent.objects.get(request=request, action="grant.not_issued").details == {
        "reason": "requester_not_eligible"
    }


def test_a_request_is_not_issued_before_its_start(alice):
    request = _approved(alice, starts_at=now() + timedelta(hours=1))

    with pytest.raises(InvalidTransition, match="starts at"):
        services.grant_issue(request_id=request.pk)


def test_a_grant_is_not_expired_before_its_end(alice):
    request = _approved(alice)
    AccessRequest.objects.filter(pk=request.pk).update(state="active", ends_at=now() + timedelta(minutes=1))

    with pytest.raises(InvalidTransition, match="runs until"):
        services.grant_expire(request_id=request.pk)


def test_a_grant_not_yet_issued_is_revoked_without_any_token(alice):
    request = _approved(alice, starts_at=now() + timedelta(hours=1))
    services.grant_revoke(actor=alice, request_id=request.pk, reason="Not needed after all")

    with mock.patch.object(vault, "revoke_grant_token") as revoke:
        services.grant_revoke_finish(request_id=request.pk)

    revoke.assert_not_called()
    assert AccessRequest.objects.get(pk=request.pk).state == "revoked"


def test_someone_unrelated_cannot_revoke(alice):
    erin = make_user("erin")
    request = _approved(alice)

    with pytest.raises(NotAllowed):
        services.grant_revoke(actor=erin, request_id=request.pk)
    assert AccessRequest.objects.get(pk=request.pk).state == "approved"


def test_issue_backoff_grows_exponentially_up_to_its_cap():
    assert [services.issue_backoff(n).total_seconds() for n in (0, 1, 2, 3)] == [0, 2, 4, 8]
    assert services.issue_backoff(30) == services.ISSUE_BACKOFF_MAX
