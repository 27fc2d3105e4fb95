"""The pages: reveal once with ready-made connection strings, revoke buttons, the admins' list of grants."""

import pytest

from portal.access.models import AccessRequest
from tests.grants.conftest import client_for, grant_for, wait_for_state

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_reveal_page_shows_the_credentials_once_with_ready_made_connection_strings(worker, people, catalog):
    grant = wait_for_state(grant_for(people["alice"], "analytics-readonly").pk, "active")
    client = client_for(people["alice"])
    detail = client.get(f"/access/requests/{grant.pk}/")
    assert b"Reveal credentials" in detail.content

    page = client.post(f"/access/requests/{grant.pk}/reveal/")

    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    text = page.content.decode()
    assert "shown once" in text and "will not show them again" in text
    for fragment in (
        '<code id="cred-psql">psql ',
        ":shop:",
        "jdbc:postgresql://127.0.0.1:",
        'data-copy="cred-password"',
    ):
        assert fragment in text
    assert "Reveal credentials" not in client.get(f"/access/requests/{grant.pk}/").content.decode()

    again = client.post(f"/access/requests/{grant.pk}/reveal/", follow=True)
    assert "already revealed" in again.content.decode()
    assert "jdbc:postgresql://" not in again.content.decode()


def test_holder_revokes_from_the_request_page(worker, people, catalog):
    grant = wait_for_state(grant_for(people["alice"], "analytics-readonly").pk, "active")
    client = client_for(people["alice"])
    assert b"Revoke now" in client.get(f"/access/requests/{grant.pk}/").content

    client.post(f"/access/requests/{grant.pk}/revoke/", {"reason": "Finished"})

    revoked = wait_for_state(grant.pk, "revoked")
    assert revoked.revoke_reason == "Finished"


def test_admin_lists_active_grants_and_revokes_all_of_a_role(worker, people, catalog):
    grants = [
        grant_for(people["alice"], "orders-readwrite", approver=people["bob"]),
        grant_for(people["bob"], "orders-readwrite", approver=people["carol"]),
    ]
    for grant in grants:
        wait_for_state(grant.pk, "active")
    carol = client_for(people["carol"])

    listing = carol.get("/access/grants/")
    assert listing.status_code == 200
    assert b"alice@contoso.example" in listing.content and b"bob@contoso.example" in listing.content

    carol.post("/access/grants/revoke/", {"role": catalog["orders-readwrite"].pk, "reason": "Incident 42"})

    for grant in grants:
        assert wait_for_state(grant.pk, "revoked").revoked_by == people["carol"]


def test_only_admins_see_the_list_of_grants(people, catalog):
    assert client_for(people["bob"]).get("/access/grants/").status_code == 403
    assert (
        client_for(people["bob"]).post("/access/grants/revoke/", {"role": catalog["orders-readwrite"].pk}).status_code
        == 403
    )
    assert not AccessRequest.objects.filter(state="revoking").exists()
