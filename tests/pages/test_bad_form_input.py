"""Bad input on the page forms gets a message and changes nothing: never a 500 (a scanner found eleven)."""

from datetime import timedelta

import pytest
from django.test import Client

from portal.access import services
from portal.access.models import AccessRequest
from portal.core.clock import now

State = AccessRequest.State
WHY = "Investigating the late orders of ticket OPS-12"


def client_for(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def grant(alice, catalog):
    request = services.request_create(actor=alice, role="analytics-readonly", justification=WHY)
    AccessRequest.objects.filter(pk=request.pk).update(
        state=State.ACTIVE, starts_at=now(), ends_at=now() + timedelta(minutes=60)
    )
    return request


@pytest.mark.parametrize(
    "body",
    [
        {"role": "abc", "reason": "Incident 42"},
        {"user": "abc", "reason": "Incident 42"},
        {"role": "1e3", "reason": "Incident 42"},
        {"role": "99999999999999999999", "reason": "Incident 42"},
        {"user": "", "role": "", "reason": "Incident 42"},
    ],
)
def test_bulk_revoke_with_a_person_or_role_that_is_not_one_answers_a_message(carol, grant, body):
    response = client_for(carol).post("/access/grants/revoke/", body, follow=True)

    assert response.status_code == 200
    assert "Choose one person or one role whose grants to revoke." in response.content.decode()
    assert AccessRequest.objects.get(pk=grant.pk).state == State.ACTIVE


@pytest.mark.parametrize("target", ["id", "home", "access:my-access", "//evil.example/", "https://evil.example/"])
def test_revoke_goes_back_only_to_a_path_of_the_portal(alice, grant, target):
    response = client_for(alice).post(f"/access/requests/{grant.pk}/revoke/", {"reason": "Done", "next": target})

    assert response.status_code == 302
    assert response["Location"] == f"/access/requests/{grant.pk}/"


def test_revoke_goes_back_to_the_page_it_came_from(alice, grant):
    response = client_for(alice).post(f"/access/requests/{grant.pk}/revoke/", {"reason": "Done", "next": "/access/"})

    assert response.status_code == 302
    assert response["Location"] == "/access/"
    assert AccessRequest.objects.get(pk=grant.pk).state == State.REVOKING


def test_a_reason_with_a_null_character_is_refused_on_the_page_and_in_the_api(alice, grant):
    page = client_for(alice).post(f"/access/requests/{grant.pk}/revoke/", {"reason": "a\x00b"}, follow=True)
    assert page.status_code == 200 and "The reason is not valid." in page.content.decode()
    api = client_for(alice).post(
        f"/api/v1/requests/{grant.pk}/revoke", {"reason": "a\x00b"}, content_type="application/json"
    )
    assert api.status_code == 400
    assert AccessRequest.objects.get(pk=grant.pk).state == State.ACTIVE
