"""Notifications go out after commit, carry links and never block a decision."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail

from portal.access import services
from portal.access.models import AccessRequest
from portal.core.clock import now
from portal.integrations import notify

WHY = "Investigating the late orders of ticket OPS-12"


def test_approvers_get_an_email_with_a_link_when_alice_asks(
    alice, bob, carol, catalog, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == ["bob@contoso.example", "carol@contoso.example"]
    assert f"/access/requests/{request.pk}/" in message.body
    assert WHY in message.body


def test_requester_hears_of_approval_and_denial(
    alice, bob, dave, carol, catalog, eager_tasks, django_capture_on_commit_callbacks
):
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    other = services.request_create(actor=dave, role="orders-admin", justification=WHY, ticket="OPS-1")
    with django_capture_on_commit_callbacks(execute=True):
        services.request_approve(actor=bob, request_id=request.pk)
        services.request_deny(actor=carol, request_id=other.pk, comment="Not today")

    # The approved request is also issued at once (tasks run eagerly): that message is tested elsewhere.
    decisions = [m for m in mail.outbox if "is ready" not in m.subject]
    assert [(m.to, "approved" in m.subject, "denied" in m.subject) for m in decisions] == [
        (["alice@contoso.example"], True, False),
        (["dave@contoso.example"], False, True),
    ]


def test_nothing_is_sent_when_the_decision_rolls_back(
    alice, bob, catalog, eager_tasks, django_capture_on_commit_callbacks
):
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    alice.profile.groups = []
    alice.profile.save()
    bob.profile.groups = []
    bob.profile.save()

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Exception, match="not an approver"):
        services.request_approve(actor=bob, request_id=request.pk)
    assert mail.outbox == []


def test_a_failing_mail_server_never_rolls_back_the_decision(
    alice, bob, catalog, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    from portal.celery import app

    app.conf.task_always_eager = True
    try:
        # Starting tomorrow: the approval queues no issuing, only the mails, which the server refuses.
        request = services.request_create(
            actor=alice, role="orders-readwrite", justification=WHY, starts_at=now() + timedelta(days=1)
        )
        with django_capture_on_commit_callbacks(execute=True) as queued:
            services.request_approve(actor=bob, request_id=request.pk)
    finally:
        app.conf.task_always_eager = False

    assert queued, "the approval queued its notifications"
    assert AccessRequest.objects.get(pk=request.pk).state == AccessRequest.State.APPROVED


def test_send_email_turns_a_refused_connection_into_a_retryable_error(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2

    with pytest.raises(notify.NotificationFailed):
        notify.send_email(to=["alice@contoso.example"], subject="s", body="b")


class _Hook(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):
        _Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(_Hook.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(settings):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received, _Hook.status = [], 200
    settings.NOTIFY_SLACK_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    yield _Hook
    server.shutdown()


def test_slack_webhook_gets_the_same_event_with_a_link(
    alice, bob, catalog, eager_tasks, webhook, django_capture_on_commit_callbacks
):
    request = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    with django_capture_on_commit_callbacks(execute=True):
        services.request_approve(actor=bob, request_id=request.pk)

    # The approval, then the issuance (tasks run at once): each with the request's link.
    assert ["was approved" in hook["text"] for hook in webhook.received] == [True, False]
    assert all(f"/access/requests/{request.pk}/" in hook["text"] for hook in webhook.received)


def test_a_webhook_answering_500_is_a_retryable_error(webhook):
    webhook.status = 500
    with pytest.raises(notify.NotificationFailed, match="slack webhook answered 500"):
        notify.post_webhook(channel="slack", text="hello")


def test_holder_is_warned_once_shortly_before_the_grant_ends(
    alice, catalog, eager_tasks, django_capture_on_commit_callbacks
):
    request = services.request_create(actor=alice, role="analytics-readonly", justification=WHY)
    AccessRequest.objects.filter(pk=request.pk).update(
        state=AccessRequest.State.ACTIVE, starts_at=now(), ends_at=now() + timedelta(minutes=30)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.grants_warn_ending_soon() == 0
    AccessRequest.objects.filter(pk=request.pk).update(ends_at=now() + timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.grants_warn_ending_soon() == 1
        assert services.grants_warn_ending_soon() == 0

    assert [m.to for m in mail.outbox if "ends at" in m.subject] == [["alice@contoso.example"]]


def test_a_grant_already_past_its_end_is_not_warned_that_it_ends_soon(
    alice, catalog, eager_tasks, django_capture_on_commit_callbacks
):
    request = services.request_create(actor=alice, role="analytics-readonly", justification=WHY)
    AccessRequest.objects.filter(pk=request.pk).update(
        state=AccessRequest.State.ACTIVE, starts_at=now() - timedelta(minutes=30), ends_at=now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.grants_warn_ending_soon() == 0

    assert AccessRequest.objects.get(pk=request.pk).ending_notice_sent_at is None
    assert not [m for m in mail.outbox if "ends at" in m.subject]


def test_the_approvers_email_never_goes_to_the_requester(
    bob, carol, catalog, eager_tasks, django_capture_on_commit_callbacks
):
    # bob is an engineer and an approver of orders-readwrite: his own request goes to carol only.
    with django_capture_on_commit_callbacks(execute=True):
        services.request_create(actor=bob, role="orders-readwrite", justification=WHY)

    assert [message.to for message in mail.outbox] == [["carol@contoso.example"]]


def test_the_approvers_email_leaves_out_the_requesters_address_on_another_account(
    bob, carol, catalog, eager_tasks, django_capture_on_commit_callbacks
):
    carol.profile.email = "BOB@contoso.example"
    carol.profile.save()
    with django_capture_on_commit_callbacks(execute=True):
        services.request_create(actor=bob, role="orders-readwrite", justification=WHY)

    assert mail.outbox == []


MISCHIEF = "Fix <!channel> <@U024BE7LH> <http://evil.example|the runbook> [the runbook](http://evil.example) *now* & go"


@pytest.fixture
def teams(settings):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.NOTIFY_TEAMS_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/teams"
    yield _Hook
    server.shutdown()


def test_slack_and_teams_messages_escape_what_people_typed(
    alice, bob, catalog, eager_tasks, webhook, teams, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = services.request_create(actor=alice, role="orders-readwrite", justification=MISCHIEF)

    texts = [hook["text"] for hook in webhook.received]
    assert len(texts) == 2
    slack = next(text for text in texts if "&lt;!channel&gt;" in text)
    teams_text = next(text for text in texts if text is not slack)
    for text in texts:
        assert "<!channel>" not in text and "<@U024BE7LH>" not in text and "<http://evil.example|" not in text
        assert f"/access/requests/{request.pk}/" in text
    assert "&lt;http://evil.example|the runbook&gt;" in slack and "&amp; go" in slack
    assert "](http://evil.example)" not in teams_text
    assert r"\[the runbook\]\(http://evil.example\)" in teams_text and r"\*now\*" in teams_text
    # E-mail is plain text: what was typed, as typed.
    assert MISCHIEF in mail.outbox[0].body
