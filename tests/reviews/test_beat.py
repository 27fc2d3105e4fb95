"""The beat's task on a real Celery worker: a review past its due date is settled by the worker, once."""

from datetime import timedelta

import pytest

from portal.access.models import AuditEvent
from portal.core.clock import now
from portal.reviews import services, tasks
from portal.reviews.models import Campaign, ReviewItem
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_worker_settles_a_review_past_its_due_date(worker, catalog, people):  # noqa: F811
    campaign = services.campaign_start(
        actor=people["carol"], role="orders-readwrite", due_at=now() + timedelta(days=1), when_overdue="remove"
    )
    # The due date has passed (moved here rather than waiting a day).
    Campaign.objects.filter(pk=campaign.pk).update(due_at=now() - timedelta(minutes=1))

    tasks.sweep.delay()
    tasks.sweep.delay()

    assert wait_until(lambda: Campaign.objects.get(pk=campaign.pk).state == Campaign.State.CLOSED, timeout_seconds=60)
    assert set(campaign.items.values_list("decision", flat=True)) == {ReviewItem.Decision.REMOVE}
    assert AuditEvent.objects.filter(action="review.removed").count() == campaign.items.count() == 2
    assert AuditEvent.objects.filter(action="review.campaign_closed").count() == 1
