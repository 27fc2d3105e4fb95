"""A Slack approval on the real stack: the signed click approves, the worker issues in OpenBao, Slack is updated."""

import signal

import pytest

from portal.access import services
from portal.chatops import services as chatops_services
from tests.chatops.conftest import click_body, post_click, signed_headers
from tests.grants.conftest import can_log_in, reveal, wait_for_state

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def answer_here(monkeypatch):
    """Answer Slack from this process: the shared test worker runs without the local Slack's settings."""
    from portal.chatops import tasks

    monkeypatch.setattr(
        chatops_services,
        "_enqueue_answer",
        lambda interaction_id: tasks.answer_slack_interaction.apply((interaction_id,)),
    )


def test_bob_approves_in_slack_and_alice_gets_working_credentials(
    client,
    stack,
    worker,  # noqa: F811
    people,  # noqa: F811
    catalog,  # noqa: F811
    slack,
    answer_here,
):
    asked = services.request_create(
        actor=people["alice"], role="orders-readwrite", justification="Fix the stuck order 4711", duration_minutes=5
    )
    body = click_body(slack, who="bob", action="approve", request_id=asked.pk, comment="Go ahead")

    # The worker holds still until Slack is answered, so the message shows the decision before the issue
    # starts: otherwise which comes first depends on how busy the machine is.
    worker.signal(signal.SIGSTOP)
    try:
        response = post_click(client, body, signed_headers(body))
    finally:
        worker.signal(signal.SIGCONT)

    assert response.status_code == 200
    grant = wait_for_state(asked.pk, "active")
    assert grant.approvals.get().approver == people["bob"]
    assert can_log_in(reveal(people["alice"], grant.pk))
    assert "approved" in slack.updates[-1]["text"]
