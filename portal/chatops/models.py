"""Decisions taken from Slack: each signed interaction received, what came of it, and the answer owed to Slack."""

from django.conf import settings
from django.db import models

from portal.access.fields import EncryptedTextField
from portal.access.models import AccessRequest
from portal.core.clock import now


class SlackInteraction(models.Model):
    """One signed click on an Approve or Deny button; its signature is kept so that a replay is refused."""

    class Outcome(models.TextChoices):
        APPROVED = "approved"
        DENIED = "denied"
        REFUSED = "refused"

    # SHA-256 of the `X-Slack-Signature` header: each signed request is taken once.
    signature_hash = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(default=now)
    slack_user_id = models.CharField(max_length=64)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    request = models.ForeignKey(AccessRequest, on_delete=models.PROTECT, null=True, blank=True)
    action = models.CharField(max_length=16)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.CharField(max_length=500, blank=True)
    channel_id = models.CharField(max_length=64, blank=True)
    message_ts = models.CharField(max_length=64, blank=True)
    # Slack's response URL lets whoever holds it post into the channel: sealed, and dropped once answered.
    response_url = EncryptedTextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["received_at"], name="slack_interaction_received_idx")]

    def __str__(self):
        return f"Slack {self.action} by {self.slack_user_id}: {self.outcome}"
