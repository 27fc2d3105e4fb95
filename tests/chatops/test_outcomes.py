"""Requesters hear of every outcome of their request, by e-mail and in the same Slack or Teams channel."""

import pytest
from django.core import mail

from portal.access import services
from portal.access.models import AccessRequest

WHY = "Check the analytics totals for the board"


@pytest.fixture
def approved(alice, catalog, vault_tasks_held):
    # Issued below by calling the service: the queued task would try again in-process.
    return services.request_create(actor=alice, role="analytics-readonly", justification=WHY)


def test_alice_hears_that_her_grant_could_not_be_issued(
    alice, approved, teams, eager_tasks, django_capture_on_commit_callbacks
):
    alice.profile.groups = []
    alice.profile.save()

    with django_capture_on_commit_callbacks(execute=True):
        services.grant_issue(request_id=approved.pk)

    assert AccessRequest.objects.get(pk=approved.pk).state == AccessRequest.State.FAILED
    told = [message for message in mail.outbox if "could not be issued" in message.subject]
    assert [message.to for message in told] == [["alice@contoso.example"]]
    assert "no longer eligible" in told[0].subject
    assert [hook["text"] for hook in teams.webhook if "could not be issued" in hook["text"]]


def test_alice_hears_that_her_access_has_ended(approved, teams, eager_tasks, django_capture_on_commit_callbacks):
    # The window passed and Vault has nothing left to revoke (no token was recorded).
    AccessRequest.objects.filter(pk=approved.pk).update(state="revoking", closing_as="expired")

    with django_capture_on_commit_callbacks(execute=True):
        services.grant_revoke_finish(request_id=approved.pk)

    assert AccessRequest.objects.get(pk=approved.pk).state == AccessRequest.State.EXPIRED
    assert [message.to for message in mail.outbox if "has ended" in message.subject] == [["alice@contoso.example"]]
    assert any("has ended" in hook["text"] for hook in teams.webhook)
