"""Teams and e-mail: the approvers' message links straight to the request's decision form, after sign-in.

Opening the link never decides: only the form's POST does.
"""

import pytest
from django.core import mail

from portal.access import services
from portal.access.models import AccessRequest
from portal.accounts import oidc
from tests.support.sign_in import authorize_at_provider, start_sign_in

WHY = "Investigating the late orders of ticket OPS-12"


@pytest.fixture
def asked(alice, bob, carol, catalog, eager_tasks, teams, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return services.request_create(actor=alice, role="orders-readwrite", justification=WHY)


def _link_in(text: str) -> str:
    return next(word for word in text.split() if "/access/requests/" in word)


def test_the_email_and_the_teams_message_link_to_the_decision_form(asked, teams, settings):
    link = f"{settings.PORTAL_BASE_URL}/access/requests/{asked.pk}/#decide"
    approvers_mail = next(message for message in mail.outbox if "asks for" in message.subject)

    assert _link_in(approvers_mail.body) == link
    assert [_link_in(hook["text"]) for hook in teams.webhook] == [link]


def test_bob_signs_in_from_the_link_and_lands_on_the_form_without_deciding(client, stack, asked):
    oidc.clear_cache()
    path = f"/access/requests/{asked.pk}/"

    opened = client.get(path)
    assert opened.status_code == 302 and opened["Location"] == f"/login/?next={path}"
    login_page = client.get(opened["Location"]).content.decode()
    assert f'name="next" value="{path}"' in login_page
    authorization = start_sign_in(client, next_url=path)
    back = client.get("/oidc/callback/", authorize_at_provider(authorization["url"], "bob"))
    assert back["Location"] == path

    page = client.get(path).content.decode()

    assert 'id="decide"' in page and f'action="/access/requests/{asked.pk}/approve/"' in page
    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.PENDING
    assert not asked.approvals.exists()


def test_opening_the_decision_urls_with_get_decides_nothing(client, asked, bob):
    client.force_login(bob)

    for action in ("approve", "deny"):
        assert client.get(f"/access/requests/{asked.pk}/{action}/").status_code == 405
    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.PENDING


def test_the_requester_hears_the_outcome_in_the_same_channel_and_by_mail(
    client, asked, bob, teams, django_capture_on_commit_callbacks
):
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/access/requests/{asked.pk}/deny/", {"comment": "Use the replica"})

    assert any("was denied" in hook["text"] for hook in teams.webhook)
    assert any("denied" in message.subject and message.to == ["alice@contoso.example"] for message in mail.outbox)
