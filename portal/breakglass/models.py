"""Break-glass: a role's emergency self-activation policy, and each use of it with its mandatory review."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from portal.access.models import AccessRequest, AccessRole
from portal.core.clock import now


def _validate_pattern(value: str) -> None:
    try:
        re.compile(value)
    except re.error as error:
        raise ValidationError(f"Not a valid regular expression: {error}.") from error


class BreakGlassPolicy(models.Model):
    """Whether and how an eligible person may activate a role themselves, without approval, in an emergency."""

    role = models.OneToOneField(AccessRole, on_delete=models.CASCADE, related_name="break_glass_policy")
    allowed = models.BooleanField(default=True, help_text="Eligible people may activate this role in an emergency.")
    max_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1)],
        help_text="Longest break-glass window (and never beyond the role's maximum).",
    )
    incident_pattern = models.CharField(
        max_length=200,
        default=r"^[A-Z]+-[0-9]+$",
        validators=[_validate_pattern],
        help_text="Regular expression an incident reference must match in full.",
    )
    uses_allowed = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1)], help_text="Uses per person within the window below."
    )
    window_days = models.PositiveSmallIntegerField(default=7, validators=[MinValueValidator(1)])
    review_due_hours = models.PositiveIntegerField(
        default=24, validators=[MinValueValidator(1)], help_text="Approvers review each use within this time."
    )

    class Meta:
        verbose_name = "break-glass policy"
        verbose_name_plural = "break-glass policies"
        constraints = [
            models.CheckConstraint(condition=Q(max_minutes__gte=1), name="breakglass_max_minutes_min"),
            models.CheckConstraint(condition=Q(uses_allowed__gte=1), name="breakglass_uses_allowed_min"),
            models.CheckConstraint(condition=Q(window_days__gte=1), name="breakglass_window_days_min"),
            models.CheckConstraint(condition=Q(review_due_hours__gte=1), name="breakglass_review_due_min"),
        ]

    def __str__(self):
        return f"Break-glass for {self.role}"

    def clean(self):
        # Somebody must be able to review each use.
        if self.allowed and self.role_id and not self.role.approver_groups:
            raise ValidationError("A role allows break-glass only if it has approver groups to review each use.")


class BreakGlassUse(models.Model):
    """One break-glass activation: the grant it opened, and the approvers' review of it afterwards."""

    class Review(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        MISUSE = "misuse"

    request = models.OneToOneField(AccessRequest, on_delete=models.PROTECT, related_name="break_glass_use")
    # Copies of the request's requester and role, so that the per-person limit is one indexed count.
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.ForeignKey(AccessRole, on_delete=models.PROTECT, related_name="break_glass_uses")
    incident = models.CharField(max_length=100)
    activated_at = models.DateTimeField(default=now)
    review_due_at = models.DateTimeField()
    review_state = models.CharField(max_length=16, choices=Review.choices, default=Review.PENDING)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    review_comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-activated_at", "-id"]
        indexes = [
            models.Index(fields=["requester", "role", "activated_at"], name="breakglass_limit_idx"),
            models.Index(fields=["review_state", "review_due_at"], name="breakglass_review_due_idx"),
        ]

    def __str__(self):
        return f"Break-glass #{self.request_id} ({self.incident})"

    @property
    def reviewer_label(self) -> str:
        if self.reviewer is None:
            return ""
        profile = getattr(self.reviewer, "profile", None)
        return (profile.upn if profile and profile.upn else None) or self.reviewer.get_username()

    @property
    def escalated(self) -> bool:
        return self.escalated_at is not None

    @property
    def overdue(self) -> bool:
        return self.review_state == self.Review.PENDING and self.review_due_at <= now()
