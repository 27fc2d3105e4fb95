"""Approvers decide from Slack: signed clicks run the page's decision services, with the page's rules."""

import time
from datetime import timedelta

import pytest

from portal.access import services
from portal.access.models import AccessRequest, AuditEvent
from portal.chatops.models import SlackInteraction
from portal.core.clock import now
from tests.chatops.conftest import click_body, post_click, signed_headers

WHY = "Investigating the late orders of ticket OPS-12"
pytestmark = pytest.mark.usefixtures("eager_tasks", "vault_tasks_held")


@pytest.fixture
def asked(alice, bob, carol, catalog, slack, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return services.request_create(actor=alice, role="orders-readwrite", justification=WHY)


def _click(client, slack, captured, **click):
    body = click_body(slack, **click)
    with captured(execute=True):
        return post_click(client, body, signed_headers(body))


def _actions(blocks):
    return [element for block in blocks if block["type"] == "actions" for element in block["elements"]]


def test_the_approvers_message_has_approve_and_deny_buttons_with_the_request_id(asked, slack):
    created = [hook for hook in slack.webhook if "asks for" in hook["text"]]
    assert len(created) == 1
    buttons = _actions(created[0]["blocks"])
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("latchkey_approve", str(asked.pk)),
        ("latchkey_deny", str(asked.pk)),
    ]


def test_without_a_signing_secret_the_message_has_no_buttons(
    alice, bob, catalog, slack, settings, django_capture_on_commit_callbacks
):
    settings.SLACK_SIGNING_SECRET = ""
    with django_capture_on_commit_callbacks(execute=True):
        services.request_create(actor=alice, role="orders-readwrite", justification=WHY)

    assert [hook.get("blocks") for hook in slack.webhook] == [None]


def test_user_text_cannot_forge_links_or_mentions_in_the_message(
    alice, bob, catalog, slack, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.request_create(actor=alice, role="orders-readwrite", justification="<!channel> see <http://evil|here>")

    text = " ".join(block["text"]["text"] for block in slack.webhook[0]["blocks"] if block["type"] == "section")
    assert "<!channel>" not in text and "<http://evil|here>" not in text
    assert "&lt;!channel&gt;" in text


def test_bob_approves_from_slack_and_the_message_shows_the_outcome(
    client, asked, bob, slack, django_capture_on_commit_callbacks
):
    response = _click(
        client, slack, django_capture_on_commit_callbacks, who="bob", action="approve", request_id=asked.pk
    )

    assert response.status_code == 200
    request = AccessRequest.objects.get(pk=asked.pk)
    assert request.state == AccessRequest.State.APPROVED
    assert request.approvals.get().approver == bob
    assert AuditEvent.objects.filter(request=request, action="request.approval", actor=bob).count() == 1
    assert ("users.info", {"user": "U0BOB"}) in slack.calls
    update = slack.updates[-1]
    assert (update["channel"], update["ts"]) == ("C0APPROVERS", "1700000000.000100")
    assert "approved" in update["text"] and _actions(update["blocks"]) == []
    # alice hears of the approval in the same channel.
    assert any("was approved" in hook["text"] for hook in slack.webhook)
    interaction = SlackInteraction.objects.get()
    assert interaction.outcome == "approved" and interaction.answered_at and interaction.response_url == ""


def test_a_forged_signature_is_refused_and_changes_nothing(client, asked, slack):
    body = click_body(slack, who="bob", action="approve", request_id=asked.pk)

    response = post_click(client, body, signed_headers(body, secret="not-the-signing-secret"))

    assert response.status_code == 401 and response.json()["error"] == "invalid_signature"
    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.PENDING
    assert slack.calls == [] and not SlackInteraction.objects.exists()


def test_a_body_changed_after_signing_is_refused(client, asked, slack):
    body = click_body(slack, who="bob", action="approve", request_id=asked.pk)
    headers = signed_headers(body)

    response = post_click(client, body.replace(b"approve", b"deny"), headers)

    assert response.status_code == 401
    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.PENDING


def test_an_unsigned_request_is_refused(client, asked, slack):
    body = click_body(slack, who="bob", action="approve", request_id=asked.pk)

    assert post_click(client, body, {}).status_code == 401
    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.PENDING


def test_a_signature_older_than_five_minutes_is_refused(client, asked, slack):
    body = click_body(slack, who="bob", action="approve", request_id=asked.pk)

    response = post_click(client, body, signed_headers(body, timestamp=int(time.time()) - 301))

    assert response.status_code == 401 and "too old" in response.json()["detail"]
    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.PENDING


def test_a_replayed_request_is_refused(client, dave, bob, carol, catalog, slack, django_capture_on_commit_callbacks):
    # Two approvals needed: a replay of bob's click must not count as a second one.
    asked = services.request_create(actor=dave, role="orders-admin", justification=WHY, ticket="OPS-7")
    body = click_body(slack, who="bob", action="approve", request_id=asked.pk)
    headers = signed_headers(body)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_click(client, body, headers).status_code == 200

    replay = post_click(client, body, headers)

    assert replay.status_code == 401 and "already" in replay.json()["detail"]
    assert AccessRequest.objects.get(pk=asked.pk).approvals.count() == 1
    assert SlackInteraction.objects.count() == 1


def test_alice_cannot_approve_her_own_request_from_slack(client, asked, slack, django_capture_on_commit_callbacks):
    slack.members["U0ALICE"] = "alice@contoso.example"

    response = _click(
        client, slack, django_capture_on_commit_callbacks, who="alice", action="approve", request_id=asked.pk
    )

    assert response.status_code == 200
    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.PENDING
    told = slack.responses[-1]
    assert told["response_type"] == "ephemeral" and told["replace_original"] is False
    assert "own request" in told["text"]
    assert slack.updates == []


def test_stale_memberships_are_refused_as_on_the_page(client, asked, bob, slack, django_capture_on_commit_callbacks):
    bob.profile.groups_read_at = now() - timedelta(days=1)
    bob.profile.save()

    _click(client, slack, django_capture_on_commit_callbacks, who="bob", action="approve", request_id=asked.pk)

    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.PENDING
    assert "sign in again" in slack.responses[-1]["text"]


def test_denying_needs_a_comment_then_denies_and_the_requester_hears_it(
    client, asked, carol, slack, django_capture_on_commit_callbacks
):
    _click(client, slack, django_capture_on_commit_callbacks, who="carol", action="deny", request_id=asked.pk)
    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.PENDING
    assert "comment" in slack.responses[-1]["text"].lower()

    _click(
        client,
        slack,
        django_capture_on_commit_callbacks,
        who="carol",
        action="deny",
        request_id=asked.pk,
        comment="Use the read replica",
    )

    request = AccessRequest.objects.get(pk=asked.pk)
    assert request.state == AccessRequest.State.DENIED
    assert request.approvals.get().comment == "Use the read replica"
    assert "denied" in slack.updates[-1]["text"]
    assert any("was denied" in hook["text"] for hook in slack.webhook)


def test_two_approvals_are_two_people_and_the_message_keeps_its_buttons_until_then(
    client, dave, bob, carol, catalog, slack, django_capture_on_commit_callbacks
):
    asked = services.request_create(actor=dave, role="orders-admin", justification=WHY, ticket="OPS-7")

    _click(client, slack, django_capture_on_commit_callbacks, who="bob", action="approve", request_id=asked.pk)
    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.PENDING
    assert len(_actions(slack.updates[-1]["blocks"])) == 2
    assert "1 of 2" in str(slack.updates[-1]["blocks"])

    _click(client, slack, django_capture_on_commit_callbacks, who="bob", action="approve", request_id=asked.pk)
    assert AccessRequest.objects.get(pk=asked.pk).approvals.count() == 1
    assert "already decided" in slack.responses[-1]["text"]

    _click(client, slack, django_capture_on_commit_callbacks, who="carol", action="approve", request_id=asked.pk)
    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.APPROVED
    assert _actions(slack.updates[-1]["blocks"]) == []


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ({}, "could not read your Slack profile"),
        ({"U0BOB": ""}, "no e-mail address"),
        ({"U0BOB": "robert@elsewhere.example"}, "No single Latchkey person"),
    ],
)
def test_a_slack_member_who_is_not_exactly_one_person_decides_nothing(
    client, asked, slack, members, why, django_capture_on_commit_callbacks
):
    slack.members = members

    _click(client, slack, django_capture_on_commit_callbacks, who="bob", action="approve", request_id=asked.pk)

    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.PENDING
    assert why in slack.responses[-1]["text"]


def test_two_people_with_the_same_upn_are_no_match(client, asked, slack, django_capture_on_commit_callbacks):
    from tests.support.personas import make_person

    make_person(
        upn="BOB@contoso.example", oid="b0000000-0000-4000-8000-0000000000ff", display_name="Bob 2", group_ids=[]
    )

    _click(client, slack, django_capture_on_commit_callbacks, who="bob", action="approve", request_id=asked.pk)

    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.PENDING
    assert "No single Latchkey person" in slack.responses[-1]["text"]


def test_when_slack_refuses_chat_update_the_response_url_replaces_the_message(
    client, asked, slack, django_capture_on_commit_callbacks
):
    slack.update_error = "cant_update_message"

    _click(client, slack, django_capture_on_commit_callbacks, who="bob", action="approve", request_id=asked.pk)

    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.APPROVED
    replaced = slack.responses[-1]
    assert replaced["replace_original"] is True and "approved" in replaced["text"]


def test_an_unknown_request_is_refused_to_the_clicker(client, bob, catalog, slack, django_capture_on_commit_callbacks):
    _click(client, slack, django_capture_on_commit_callbacks, who="bob", action="approve", request_id=999999)

    assert "no request #999999" in slack.responses[-1]["text"]


def test_a_get_decides_nothing(client, asked, slack):
    assert client.get("/slack/interactivity").status_code == 405
    assert AccessRequest.objects.get(pk=asked.pk).state == AccessRequest.State.PENDING


def test_a_malformed_body_is_a_400(client, asked, slack):
    body = b"payload=not-json"

    response = post_click(client, body, signed_headers(body))

    assert response.status_code == 400 and response.json()["error"] == "invalid"


def test_without_a_signing_secret_the_endpoint_is_off(client, asked, slack, settings):
    settings.SLACK_SIGNING_SECRET = ""
    body = click_body(slack, who="bob", action="approve", request_id=asked.pk)

    assert post_click(client, body, signed_headers(body)).status_code == 404


def test_the_slack_secrets_never_reach_a_log_line(slack, settings):
    import logging

    from portal.logging import RedactSecretsFilter

    record = logging.LogRecord(
        "x",
        logging.INFO,
        "x",
        0,
        f"secret {settings.SLACK_SIGNING_SECRET} token {settings.SLACK_BOT_TOKEN}",
        None,
        None,
    )
    RedactSecretsFilter().filter(record)

    assert settings.SLACK_SIGNING_SECRET not in record.getMessage()
    assert settings.SLACK_BOT_TOKEN not in record.getMessage()
