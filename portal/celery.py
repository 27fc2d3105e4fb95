"""The Celery application: the broker carries IDs only, and no result is stored."""

import os

from celery import Celery
from celery.signals import worker_process_init

from portal.core.heap import settle_heap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _schedule(sender, **kwargs):
    """Run the sweeper and the worker heartbeat on beat's schedule (the database says what is due)."""
    from django.conf import settings

    # A run nobody picked up before the next one is due is dropped, so a stopped worker finds no backlog.
    interval = settings.SWEEPER_INTERVAL_SECONDS
    sender.add_periodic_task(
        interval, sender.signature("portal.access.tasks.sweep", options={"expires": interval}), name="sweep"
    )
    sender.add_periodic_task(
        30.0, sender.signature("portal.core.tasks.worker_heartbeat", options={"expires": 30}), name="worker heartbeat"
    )
    # The audit chain's head goes to Vault at least every minute: deleting older events is then seen.
    anchor = settings.AUDIT_ANCHOR_INTERVAL_SECONDS
    sender.add_periodic_task(
        anchor, sender.signature("portal.access.tasks.audit_anchor", options={"expires": anchor}), name="audit anchor"
    )
    escalation = settings.BREAK_GLASS_ESCALATION_INTERVAL_SECONDS
    sender.add_periodic_task(
        escalation,
        sender.signature("portal.breakglass.tasks.escalate_overdue_reviews", options={"expires": escalation}),
        name="break-glass escalation",
    )
    reviews = settings.REVIEWS_SWEEP_INTERVAL_SECONDS
    sender.add_periodic_task(
        reviews, sender.signature("portal.reviews.tasks.sweep", options={"expires": reviews}), name="access reviews"
    )


@worker_process_init.connect
def _settle_heap(**kwargs):
    """Freeze what a pool process inherited and loaded out of garbage collection (`portal.core.heap`)."""
    settle_heap()
