"""An extension gets a token and credentials of its own for the new window; the old ones go when it is revealed."""

import time

import pytest

from portal.access.models import AccessRequest
from portal.core.clock import now
from portal.integrations import vault
from tests.grants.conftest import WHY, can_log_in, client_for, grant_for, reveal, wait_for_state
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.mark.long
def test_extended_grant_works_after_the_old_end_and_stops_after_the_new_one(stack, worker, beat, people, catalog):
    alice = people["alice"]
    grant = wait_for_state(grant_for(alice, "analytics-readonly").pk, "active")
    old_end = grant.ends_at
    first = reveal(alice, grant.pk)

    response = client_for(alice).post(
        f"/api/v1/requests/{grant.pk}/extend", {"duration_minutes": 1, "justification": WHY}, "application/json"
    )
    assert response.status_code == 201
    extension = wait_for_state(response.json()["id"], "active")
    assert extension.vault_token_accessor not in ("", grant.vault_token_accessor)
    grant_page = client_for(alice).get(f"/access/requests/{grant.pk}/").content.decode()
    assert f'href="/access/requests/{extension.pk}/"' in grant_page and "credentials ready" in grant_page
    second = reveal(alice, extension.pk)

    # Once the new credentials are in hand, the grant's first token is retired.
    assert wait_until(lambda: not vault.grant_token_alive(accessor=grant.vault_token_accessor), timeout_seconds=20)
    assert wait_until(lambda: not can_log_in(first), timeout_seconds=20)
    # Past the old end, the extension's credentials still work and the grant is still active.
    time.sleep(max(0.0, (old_end - now()).total_seconds()) + 3)
    assert can_log_in(second)
    assert AccessRequest.objects.get(pk=grant.pk).state == "active"

    # The new end passes: the grant and its extension end together.
    AccessRequest.objects.filter(pk=grant.pk).update(ends_at=now())
    wait_for_state(grant.pk, "expired")
    assert AccessRequest.objects.get(pk=extension.pk).state == "expired"
    assert not vault.grant_token_alive(accessor=extension.vault_token_accessor)
    assert wait_until(lambda: not can_log_in(second), timeout_seconds=20)


def test_an_extension_is_not_revoked_on_its_own(worker, people, catalog):
    alice = people["alice"]
    grant = wait_for_state(grant_for(alice, "analytics-readonly").pk, "active")
    extension = client_for(alice).post(
        f"/api/v1/requests/{grant.pk}/extend", {"duration_minutes": 1, "justification": WHY}, "application/json"
    )

    response = client_for(alice).post(f"/api/v1/requests/{extension.json()['id']}/revoke")

    assert response.status_code == 409
