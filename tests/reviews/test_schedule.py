"""What the beat does: reminders before the due date, the campaign's setting at the due date, recurring reviews."""

from datetime import timedelta

import pytest

from portal.access.models import AccessRequest, AuditEvent
from portal.access.policy import eligibility as role_eligibility
from portal.reviews import services
from portal.reviews.models import Campaign, ReviewItem, ReviewSchedule
from tests.reviews.conftest import active_grant

pytestmark = pytest.mark.django_db


def test_undecided_people_are_removed_at_the_due_date_when_the_review_says_so(catalog, alice, bob, carol, start_review):
    campaign = start_review("orders-readwrite", days=2, when_overdue="remove")
    grant = active_grant(alice, catalog["orders-readwrite"])
    services.item_decide(actor=carol, item_id=campaign.items.get(user=bob).pk, decision="keep")

    assert services.reviews_sweep(at=campaign.due_at - timedelta(minutes=1))["closed"] == 0
    done = services.reviews_sweep(at=campaign.due_at + timedelta(minutes=1))

    assert done["closed"] == 1
    alice_item = campaign.items.get(user=alice)
    assert alice_item.decision == ReviewItem.Decision.REMOVE
    assert alice_item.decided_when_overdue and alice_item.decided_by is None
    assert campaign.items.get(user=bob).decision == ReviewItem.Decision.KEEP
    assert role_eligibility(catalog["orders-readwrite"], alice) == []
    # The grant is revoked on the authority of the admin who chose "remove" when starting the review.
    grant.refresh_from_db()
    assert grant.state == AccessRequest.State.REVOKING
    assert grant.revoked_by == carol
    removed = AuditEvent.objects.get(action="review.removed")
    assert removed.actor is None and removed.details["overdue"] is True
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.CLOSED
    closed = AuditEvent.objects.get(action="review.campaign_closed")
    assert closed.details["at_due_date"] is True


def test_undecided_people_are_kept_at_the_due_date_when_the_review_says_so(catalog, alice, carol, start_review):
    campaign = start_review("orders-readwrite", days=2, when_overdue="keep")

    services.reviews_sweep(at=campaign.due_at + timedelta(minutes=1))

    item = campaign.items.get(user=alice)
    assert item.decision == ReviewItem.Decision.KEEP and item.decided_when_overdue
    assert role_eligibility(catalog["orders-readwrite"], alice) == ["orders-engineers"]
    assert AuditEvent.objects.filter(action="review.kept", actor=None).count() == 1


def test_a_second_sweep_after_the_due_date_does_nothing_more(catalog, alice, carol, start_review):
    campaign = start_review("orders-readwrite", days=2, when_overdue="remove")
    services.reviews_sweep(at=campaign.due_at + timedelta(minutes=1))
    events = AuditEvent.objects.count()

    assert services.reviews_sweep(at=campaign.due_at + timedelta(minutes=2)) == {
        "reminded": 0,
        "closed": 0,
        "started": 0,
    }
    assert AuditEvent.objects.count() == events


def test_reviewers_are_reminded_once_before_the_due_date(
    settings, catalog, alice, bob, carol, start_review, eager_tasks, django_capture_on_commit_callbacks, mailoutbox
):
    settings.REVIEWS_REMINDER_HOURS = 24
    campaign = start_review("orders-readwrite", days=3)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        early = services.reviews_sweep(at=campaign.due_at - timedelta(hours=30))
        first = services.reviews_sweep(at=campaign.due_at - timedelta(hours=20))
        second = services.reviews_sweep(at=campaign.due_at - timedelta(hours=10))

    assert (early["reminded"], first["reminded"], second["reminded"]) == (0, 1, 0)
    assert len(mailoutbox) == 1
    assert "is due" in mailoutbox[0].subject and "2 left" in mailoutbox[0].subject
    assert sorted(mailoutbox[0].to) == ["bob@contoso.example", "carol@contoso.example"]


def test_a_recurring_review_starts_again_every_n_days_once(catalog, alice, carol, start_review):
    first = start_review("orders-readwrite", days=7, repeat_every_days=30)
    schedule = ReviewSchedule.objects.get()
    assert schedule.every_days == 30 and schedule.owner == carol
    at = first.started_at + timedelta(days=30, minutes=1)

    done = services.reviews_sweep(at=at)
    again = services.reviews_sweep(at=at)

    assert done["started"] == 1 and again["started"] == 0
    second = Campaign.objects.exclude(pk=first.pk).get()
    assert second.schedule == schedule
    assert second.started_by is None and second.owner == carol
    assert second.role.slug == "orders-readwrite"
    assert list(second.items.values_list("upn", flat=True)) == ["alice@contoso.example"]
    schedule.refresh_from_db()
    assert schedule.next_run_at == at + timedelta(days=30)


def test_a_recurring_review_waits_for_the_open_one_and_says_so(catalog, alice, carol, start_review):
    first = start_review("orders-readwrite", days=60, repeat_every_days=30)

    done = services.schedules_run(at=first.started_at + timedelta(days=30, minutes=1))

    assert done == 0
    assert Campaign.objects.count() == 1
    skipped = AuditEvent.objects.get(action="review.schedule_skipped")
    assert "already open" in skipped.details["why"]
