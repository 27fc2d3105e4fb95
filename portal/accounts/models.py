from django.conf import settings
from django.db import models


class Profile(models.Model):
    """A person (or application) from Entra ID, keyed by tenant and object ID, never by e-mail."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    tid = models.CharField("tenant ID", max_length=64)
    oid = models.CharField("object ID", max_length=64)
    upn = models.CharField("user principal name", max_length=255, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=255, blank=True)
    # Entra group object IDs and app roles, as last read at sign-in.
    groups = models.JSONField(default=list, blank=True)
    app_roles = models.JSONField(default=list, blank=True)
    groups_read_at = models.DateTimeField(null=True, blank=True)
    # A service principal (a CI job, a script) calling the API with its own token: eligible
    # through app roles only, never an approver.
    is_application = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tid", "oid"], name="profile_unique_tid_oid")]

    def __str__(self):
        return self.upn or self.oid


class SignInSession(models.Model):
    """Which portal session came from which provider session (`sid`), for front-channel sign-out."""

    sid = models.CharField("provider session ID", max_length=255, db_index=True)
    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sign_in_sessions")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.user} ({self.sid})"
