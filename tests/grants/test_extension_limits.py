"""Extensions never outlast the role's maximum, and end with a grant that is being revoked."""

import contextlib
from datetime import timedelta

import pytest

from portal.access import services
from portal.access.audit import audit_record
from portal.access.models import AccessRequest, AuditAction
from portal.access.services import issuing, revocation
from portal.core import queue as portal_queue
from portal.core.clock import now
from portal.core.errors import InvalidTransition
from portal.integrations import vault
from tests.grants.conftest import WHY, client_for
from tests.support.clock import clock_at

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
State = AccessRequest.State


@pytest.fixture
def nothing_queued(monkeypatch):
    """Keep work from the Celery queue, so that this test alone moves the requests (and in its own order)."""
    queued = []
    monkeypatch.setattr(portal_queue, "send", lambda task, *args, eta=None: queued.append((task, args)))
    return queued


def _issued_grant(alice) -> AccessRequest:
    """Issue alice an analytics grant in this process, through the real Vault."""
    starts = now() + timedelta(minutes=2)
    request = services.request_create(
        actor=alice, role="analytics-readonly", justification=WHY, duration_minutes=5, starts_at=starts
    )
    with clock_at(starts + timedelta(seconds=1)):
        services.grant_issue(request_id=request.pk)
    request.refresh_from_db()
    assert request.state == State.ACTIVE
    return request


def test_an_extension_that_finishes_issuing_while_its_grant_is_revoked_is_revoked_too(
    stack, people, catalog, nothing_queued, monkeypatch
):
    alice = people["alice"]
    grant = _issued_grant(alice)
    extension = AccessRequest.objects.create(
        role=grant.role, requester=alice, justification=WHY, duration_minutes=1, extends=grant, state=State.APPROVED
    )
    # Approved as the decision services approve: the history holds the approval.
    audit_record(actor=None, action=AuditAction.REQUEST_APPROVED, request=extension, details={"auto": True})
    # The extension's worker claims it while the grant still runs ...
    claimed = issuing._issue_claim(extension.pk)
    assert claimed.state == State.ISSUING
    # ... then the holder revokes the grant, and the extension's worker finishes while the revocation runs.
    services.grant_revoke(actor=alice, request_id=grant.pk, reason="Done early")
    revoke_tokens, rounds = revocation._revoke_tokens, []

    def extension_finishes_meanwhile(request, accessors):
        if not rounds:
            monkeypatch.setattr(issuing, "_issue_claim", lambda request_id, **known: claimed)
            with contextlib.suppress(InvalidTransition):
                issuing.grant_issue(request_id=extension.pk)
        rounds.append(accessors)
        return revoke_tokens(request, accessors)

    monkeypatch.setattr(revocation, "_revoke_tokens", extension_finishes_meanwhile)
    services.grant_revoke_finish(request_id=grant.pk)

    extension.refresh_from_db()
    assert AccessRequest.objects.get(pk=grant.pk).state == State.REVOKED
    assert extension.state == State.REVOKED
    assert extension.vault_token_accessor
    assert not vault.grant_token_alive(accessor=extension.vault_token_accessor)
    response = client_for(alice).post(f"/api/v1/requests/{extension.pk}/credentials")
    assert response.status_code == 409


def test_the_extension_of_a_grant_being_revoked_cannot_be_revealed(stack, people, catalog, nothing_queued):
    alice = people["alice"]
    grant = _issued_grant(alice)
    extension = AccessRequest.objects.create(
        role=grant.role,
        requester=alice,
        justification=WHY,
        duration_minutes=1,
        extends=grant,
        state=State.ACTIVE,
        starts_at=grant.ends_at,
        ends_at=grant.ends_at + timedelta(minutes=1),
        wrapped_secret="s.an-extension-wrapping-token",
    )
    services.grant_revoke(actor=alice, request_id=grant.pk, reason="Done early")

    api = client_for(alice).post(f"/api/v1/requests/{extension.pk}/credentials")
    assert api.status_code == 409
    assert f"Grant #{grant.pk} is revoking" in api.json()["detail"]
    page = client_for(alice).get(f"/access/requests/{extension.pk}/").content.decode()
    assert f"/access/requests/{extension.pk}/reveal/" not in page
    posted = client_for(alice).post(f"/access/requests/{extension.pk}/reveal/", follow=True)
    assert f"Grant #{grant.pk} is revoking" in posted.content.decode()
    assert AccessRequest.objects.get(pk=extension.pk).revealed_at is None
