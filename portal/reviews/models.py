"""Access reviews: campaigns, one item per eligible person and role, the exclusions they leave, schedules."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from portal.access.models import REASON_MAX_CHARS, AccessRequest, AccessRole, AuditAction
from portal.core.clock import now

# Audit actions and notification events of this app, named once.
ACTION_CAMPAIGN_STARTED = AuditAction.REVIEW_CAMPAIGN_STARTED
ACTION_CAMPAIGN_CLOSED = AuditAction.REVIEW_CAMPAIGN_CLOSED
ACTION_KEPT = AuditAction.REVIEW_KEPT
ACTION_REMOVED = AuditAction.REVIEW_REMOVED
ACTION_SCHEDULE_SET = AuditAction.REVIEW_SCHEDULE_SET
ACTION_SCHEDULE_SKIPPED = AuditAction.REVIEW_SCHEDULE_SKIPPED
ACTION_EXCLUSION_LIFTED = AuditAction.REVIEW_EXCLUSION_LIFTED
EVENT_STARTED = "review_started"
EVENT_DUE_SOON = "review_due_soon"
NOTIFICATION_EVENTS = (EVENT_STARTED, EVENT_DUE_SOON)


class WhenOverdue(models.TextChoices):
    KEEP = "keep", "Keep them"
    REMOVE = "remove", "Remove them"


class ReviewSchedule(models.Model):
    """A role reviewed again every `every_days` days; the beat starts each campaign."""

    role = models.OneToOneField(AccessRole, on_delete=models.PROTECT, related_name="review_schedule")
    every_days = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(3650)])
    due_in_days = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(365)])
    when_overdue = models.CharField(max_length=8, choices=WhenOverdue.choices)
    next_run_at = models.DateTimeField()
    enabled = models.BooleanField(default=True)
    # The admin whose decision the recurring campaigns carry out (removals at the due date act as them).
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(every_days__gte=1), name="review_schedule_every_min"),
            models.CheckConstraint(condition=Q(due_in_days__gte=1), name="review_schedule_due_min"),
        ]

    def __str__(self):
        return f"{self.role} every {self.every_days} days"


class Campaign(models.Model):
    """One review of one role (or of every role) with a due date; reviewers are each role's approvers."""

    class State(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"

    # Null: every role offered when the campaign started.
    role = models.ForeignKey(AccessRole, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    due_at = models.DateTimeField()
    when_overdue = models.CharField(max_length=8, choices=WhenOverdue.choices)
    # Who started it (null: the beat, from `schedule`).
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    schedule = models.ForeignKey(ReviewSchedule, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # The admin on whose authority removals at the due date revoke grants: the starter or the schedule's owner.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(default=now)
    closed_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    # Where the list of people came from: "sign-ins" and, when configured, "Microsoft Graph".
    sources = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # One open review per scope: a second click on "Start" finds the first one.
            models.UniqueConstraint(
                fields=["role"],
                condition=Q(state="open"),
                nulls_distinct=False,
                name="review_one_open_campaign_per_scope",
            ),
        ]
        indexes = [models.Index(fields=["state", "due_at"], name="review_campaign_state_due_idx")]

    def __str__(self):
        return f"Review #{self.pk} of {self.scope_label}"

    @property
    def scope_label(self) -> str:
        return self.role.name if self.role_id else "all roles"


class ReviewItem(models.Model):
    """One person eligible for one role, in one campaign, and the reviewer's decision about them."""

    class Decision(models.TextChoices):
        PENDING = "pending", "Not decided"
        KEEP = "keep", "Kept"
        REMOVE = "remove", "Removed"

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="items")
    role = models.ForeignKey(AccessRole, on_delete=models.PROTECT, related_name="+")
    # Null for a member read from Microsoft Graph who never signed in to the portal.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tid = models.CharField("tenant ID", max_length=64)
    oid = models.CharField("object ID", max_length=64)
    upn = models.CharField(max_length=255, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    # Entra group object IDs (and "app role X") that make the person eligible: what Entra admins remove.
    eligible_through = models.JSONField(default=list)
    seen_at_sign_in = models.BooleanField(default=False)
    seen_in_graph = models.BooleanField(default=False)
    decision = models.CharField(max_length=8, choices=Decision.choices, default=Decision.PENDING)
    reason = models.CharField(max_length=REASON_MAX_CHARS, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # True when the campaign's setting decided at the due date, not a reviewer.
    decided_when_overdue = models.BooleanField(default=False)
    revoked_requests = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["role__name", "upn", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "role", "tid", "oid"], name="review_item_once_per_campaign"),
        ]
        indexes = [models.Index(fields=["campaign", "decision"], name="review_item_campaign_dec_idx")]

    def __str__(self):
        return f"{self.label} for {self.role.slug}: {self.decision}"

    @property
    def label(self) -> str:
        return self.upn or self.display_name or self.oid


class RoleExclusion(models.Model):
    """A person removed from a role by a review: the portal treats them as not eligible for it."""

    role = models.ForeignKey(AccessRole, on_delete=models.PROTECT, related_name="+")
    tid = models.CharField("tenant ID", max_length=64)
    oid = models.CharField("object ID", max_length=64)
    item = models.OneToOneField(ReviewItem, on_delete=models.PROTECT, related_name="exclusion")
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["role", "tid", "oid"], name="review_exclusion_once")]

    def __str__(self):
        return f"{self.oid} excluded from {self.role.slug}"


# The grants a removal revokes: those still held (pending ones are denied instead).
HOLDING_STATES = (AccessRequest.State.APPROVED, AccessRequest.State.ISSUING, AccessRequest.State.ACTIVE)
