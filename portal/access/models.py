import hashlib
import json
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from portal.access.fields import EncryptedTextField
from portal.core import clock
from portal.core.db import Compiled, ids_in

# The longest reason a revocation may give: it goes into the history and onto the grant's row.
REASON_MAX_CHARS = 500


def _validate_pattern(value: str) -> None:
    try:
        re.compile(value)
    except re.error as error:
        raise ValidationError(f"Not a valid regular expression: {error}.") from error


def _validate_id_list(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValidationError("Must be a list of non-empty strings.")


class AccessRole(models.Model):
    """One Vault role offered to people: who may ask for it, who approves it, and for how long."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    vault_mount = models.CharField(max_length=200, default="database")
    vault_role = models.CharField(max_length=200)
    # Entra group object IDs and app role values; membership of any one makes a user eligible.
    eligible_groups = models.JSONField(default=list, blank=True, validators=[_validate_id_list])
    eligible_app_roles = models.JSONField(default=list, blank=True, validators=[_validate_id_list])
    approver_groups = models.JSONField(default=list, blank=True, validators=[_validate_id_list])
    # Display names of the groups above, so people see *why* they are eligible; IDs stay the truth.
    group_names = models.JSONField(default=dict, blank=True)
    approvals_required = models.PositiveSmallIntegerField(default=1, help_text="0 approves automatically.")
    default_duration_minutes = models.PositiveIntegerField(default=60, validators=[MinValueValidator(1)])
    max_duration_minutes = models.PositiveIntegerField(default=240, validators=[MinValueValidator(1)])
    ticket_required = models.BooleanField(default=False)
    ticket_pattern = models.CharField(max_length=200, blank=True, validators=[_validate_pattern])
    pending_lifetime_minutes = models.PositiveIntegerField(default=1440, validators=[MinValueValidator(1)])
    enabled = models.BooleanField(default=True)
    # Applications (CI jobs, scripts with their own Entra token) are eligible through app roles only.
    applications_may_request = models.BooleanField(
        default=False, help_text="Applications with an eligible app role may request this role."
    )
    applications_auto_approve = models.BooleanField(
        default=False, help_text="Approve an application's request at once, whatever the approvals required."
    )
    vault_role_missing = models.BooleanField(default=False, help_text="Set by `catalog check`: never offered.")
    db_host = models.CharField(max_length=255, blank=True)
    db_port = models.PositiveIntegerField(null=True, blank=True)
    db_name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(default_duration_minutes__gte=1), name="role_default_duration_min"),
            models.CheckConstraint(condition=Q(max_duration_minutes__gte=1), name="role_max_duration_min"),
            models.CheckConstraint(
                condition=Q(default_duration_minutes__lte=models.F("max_duration_minutes")),
                name="role_default_within_max",
            ),
            models.CheckConstraint(condition=Q(pending_lifetime_minutes__gte=1), name="role_pending_lifetime_min"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.default_duration_minutes and self.max_duration_minutes:
            if self.default_duration_minutes > self.max_duration_minutes:
                raise ValidationError(
                    {"default_duration_minutes": "The default duration cannot exceed the maximum duration."}
                )
        if self.applications_auto_approve and not self.applications_may_request:
            raise ValidationError(
                {"applications_auto_approve": "Only a role that applications may request can approve them at once."}
            )
        if self.approvals_required and not self.approver_groups:
            raise ValidationError({"approver_groups": "A role that needs approvals needs approver groups."})

    @property
    def offered(self) -> bool:
        """Return whether people may ask for this role at all."""
        return self.enabled and not self.vault_role_missing

    def group_label(self, group_id: str) -> str:
        return self.group_names.get(group_id, group_id)


class RequestState(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    ISSUING = "issuing"
    ACTIVE = "active"
    REVOKING = "revoking"
    EXPIRED = "expired"
    REVOKED = "revoked"
    DENIED = "denied"
    CANCELLED = "cancelled"
    FAILED = "failed"


_S = RequestState
# The state groups, named once. A person has at most one open request per role (extensions aside).
OPEN_STATES = (_S.PENDING, _S.APPROVED, _S.ISSUING, _S.ACTIVE)
# The constraint that holds a person to one open request a role (extensions aside).
OPEN_REQUEST_CONSTRAINT = "request_one_open_per_user_and_role"
# A grant (or an extension) that may hold a Vault token: until Vault confirms a revocation, `revoking` holds one.
HOLDING_STATES = (_S.APPROVED, _S.ISSUING, _S.ACTIVE, _S.REVOKING)
# Holding and not yet being revoked: what a revocation can still act on.
REVOCABLE_STATES = (_S.APPROVED, _S.ISSUING, _S.ACTIVE)
# States that change by themselves (a worker, the sweeper or an approver): pages follow them live.
MOVING_STATES = (_S.PENDING, _S.APPROVED, _S.ISSUING, _S.REVOKING)
# States in which a worker is talking to Vault, and so may be held up by it.
VAULT_WORK_STATES = (_S.APPROVED, _S.ISSUING, _S.REVOKING)
# Nothing happens to a request any more.
ENDED_STATES = (_S.EXPIRED, _S.REVOKED, _S.DENIED, _S.CANCELLED, _S.FAILED)
# Waiting for a decision or holding: every state but the ended ones (a person's own page lists them as open).
NOT_ENDED_STATES = (_S.PENDING, *HOLDING_STATES)

# The words people read for each state: on pages, and in messages ("... is waiting for approval").
STATE_LABELS = {
    _S.PENDING: "Waiting for approval",
    _S.APPROVED: "Approved",
    _S.ISSUING: "Issuing credentials",
    _S.ACTIVE: "Active",
    _S.REVOKING: "Revoking",
    _S.EXPIRED: "Expired",
    _S.REVOKED: "Revoked",
    _S.DENIED: "Denied",
    _S.CANCELLED: "Cancelled",
    _S.FAILED: "Failed",
}


def state_phrase(state: str) -> str:
    """Return the state as it reads inside a sentence: "waiting for approval", "active"."""
    return STATE_LABELS.get(state, state).lower()


class AuditAction(models.TextChoices):
    """Every action the audit trail records, with the words people read for it."""

    REQUEST_CREATED = "request.created", "Requested"
    REQUEST_APPROVAL = "request.approval", "Approval given"
    REQUEST_APPROVED = "request.approved", "Approved"
    REQUEST_DENIED = "request.denied", "Denied"
    REQUEST_CANCELLED = "request.cancelled", "Cancelled"
    REQUEST_EXPIRED = "request.expired", "Expired unreviewed"
    REQUEST_EXTENSION_REQUESTED = "request.extension_requested", "Extension requested"
    GRANT_ISSUED = "grant.issued", "Credentials issued"
    GRANT_ISSUE_FAILED = "grant.issue_failed", "Issuing failed"
    GRANT_ISSUE_RECOVERED = "grant.issue_recovered", "Issuing recovered"
    GRANT_NOT_ISSUED = "grant.not_issued", "Not issued"
    GRANT_REVEALED = "grant.revealed", "Credentials revealed"
    GRANT_COMPROMISED = "grant.compromised", "Credentials taken by someone else"
    GRANT_SEALED_VALUE_DROPPED = "grant.sealed_value_dropped", "Unreadable credentials dropped"
    GRANT_EXTENDED = "grant.extended", "Extended"
    GRANT_REVOKE_REQUESTED = "grant.revoke_requested", "Revoke requested"
    GRANT_TOKENS_RETIRED = "grant.tokens_retired", "Earlier credentials retired"
    GRANT_ENDED = "grant.ended", "Window ended"
    GRANT_REVOKED = "grant.revoked", "Revoked"
    GRANT_EXPIRED = "grant.expired", "Expired"
    CATALOG_ROLE_CREATED = "catalog.role_created", "Role created"
    CATALOG_ROLE_UPDATED = "catalog.role_updated", "Role updated"
    CATALOG_ROLE_DISABLED = "catalog.role_disabled", "Role disabled"
    CATALOG_VAULT_ROLE_MISSING = "catalog.vault_role_missing", "Vault role missing"
    CATALOG_VAULT_ROLE_FOUND = "catalog.vault_role_found", "Vault role found"
    CATALOG_BREAK_GLASS_UPDATED = "catalog.break_glass_updated", "Break-glass policy changed"
    ACCOUNT_FLAGS_CHANGED = "account.flags_changed", "Person's flags changed"
    AUDIT_CHAIN_KEYED = "audit.chain_keyed", "Audit chain keyed"
    BREAK_GLASS_ACTIVATED = "breakglass.activated", "Break-glass activated"
    BREAK_GLASS_CONFIRMED = "breakglass.confirmed", "Break-glass use confirmed"
    BREAK_GLASS_FLAGGED = "breakglass.flagged", "Break-glass use flagged as misuse"
    BREAK_GLASS_ESCALATED = "breakglass.escalated", "Break-glass review overdue: escalated to admins"
    REVIEW_CAMPAIGN_STARTED = "review.campaign_started", "Access review started"
    REVIEW_CAMPAIGN_CLOSED = "review.campaign_closed", "Access review closed"
    REVIEW_KEPT = "review.kept", "Kept in the role"
    REVIEW_REMOVED = "review.removed", "Removed from the role"
    REVIEW_SCHEDULE_SET = "review.schedule_set", "Recurring review set"
    REVIEW_SCHEDULE_SKIPPED = "review.schedule_skipped", "Recurring review skipped"
    REVIEW_EXCLUSION_LIFTED = "review.exclusion_lifted", "Removal lifted"

    @classmethod
    def label_of(cls, action: str) -> str:
        """Return the words people read for `action` (the action itself if it is not one of these)."""
        return cls(action).label if action in cls.values else action


class NotificationEvent(models.TextChoices):
    """What the people concerned hear about; `created` goes to the approvers, the rest to the requester."""

    CREATED = "created"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    ISSUED = "issued"
    ENDING_SOON = "ending_soon"
    REVOKED = "revoked"
    # Issuing gave up: the requester hears that no credentials are coming.
    FAILED = "failed"
    # The grant's window ended (not revoked): the requester hears that access is gone.
    ENDED = "ended"
    # The wrapping token was used or gone before the holder revealed it: the holder and the portal admins hear.
    COMPROMISED = "compromised"


# Where a request's approvals go when they are read for many requests at once (`load_approvals`): a list,
# which costs nothing a request, where the manager's cache costs a queryset each.
APPROVALS_LOADED = "approvals_loaded"


class AccessRequestQuerySet(models.QuerySet):
    """Requests, which can bring their approvals along (`with_approvals`) in one compiled read for all."""

    _with_approvals = False

    def with_approvals(self) -> "AccessRequestQuerySet":
        """Load the approvals of the requests read, with their approvers and profiles (`load_approvals`)."""
        clone = self._chain()
        clone._with_approvals = True
        return clone

    def _clone(self):
        clone = super()._clone()
        clone._with_approvals = self._with_approvals
        return clone

    def _fetch_all(self):
        read_now = self._result_cache is None
        super()._fetch_all()
        if (
            read_now
            and self._with_approvals
            and self._result_cache
            and isinstance(self._result_cache[0], AccessRequest)
        ):
            load_approvals(self._result_cache)


class AccessRequest(models.Model):
    """One ask for a role; once issued, the same row is the grant."""

    State = RequestState

    role = models.ForeignKey(AccessRole, on_delete=models.PROTECT, related_name="requests")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_requests")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    justification = models.TextField()
    ticket = models.CharField(max_length=100, blank=True)
    duration_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    # Null means "as soon as approved".
    requested_starts_at = models.DateTimeField(null=True, blank=True)
    # Set at issuance: the access clock starts when access is issued, not when requested.
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    extends = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="extensions")
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    # Issuance and revocation (the Vault side): the portal keeps the token accessor only.
    vault_token_accessor = models.CharField(max_length=128, blank=True)
    wrapped_secret = EncryptedTextField(blank=True)
    revealed_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoke_reason = models.CharField(max_length=REASON_MAX_CHARS, blank=True)
    # While `revoking`: the state to reach once Vault confirms (`expired` at the end, `revoked` on demand).
    closing_as = models.CharField(max_length=16, blank=True)
    issue_attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, help_text="A short reason, never a secret.")
    ending_notice_sent_at = models.DateTimeField(null=True, blank=True)

    objects = AccessRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "requested_starts_at"], name="request_state_start_idx"),
            models.Index(fields=["state", "ends_at"], name="request_state_end_idx"),
            models.Index(fields=["state", "created_at"], name="request_state_created_idx"),
            models.Index(fields=["requester", "-created_at"], name="request_requester_newest_idx"),
            # A person's open requests (My access) are a handful, however many they have had.
            models.Index(
                fields=["requester"],
                condition=Q(state__in=[state.value for state in NOT_ENDED_STATES]),
                name="request_requester_open_idx",
            ),
            models.Index(fields=["-created_at", "-id"], name="request_newest_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["requester", "role"],
                condition=Q(state__in=[state.value for state in OPEN_STATES], extends__isnull=True),
                name=OPEN_REQUEST_CONSTRAINT,
            ),
            models.UniqueConstraint(
                fields=["extends"],
                condition=Q(state=RequestState.PENDING.value, extends__isnull=False),
                name="request_one_pending_extension_per_grant",
            ),
            models.CheckConstraint(condition=Q(duration_minutes__gte=1), name="request_duration_min"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.role.slug} for {self.requester}"

    @property
    def requester_label(self) -> str:
        return person_label(self.requester)

    @property
    def approval_list(self) -> list["Approval"]:
        """Return the approvals and denials, oldest first: as read for many requests at once, or read now."""
        if getattr(self, APPROVALS_LOADED, None) is None:
            load_approvals([self])
        return getattr(self, APPROVALS_LOADED)


class Approval(models.Model):
    """One approver's decision on a request."""

    class Decision(models.TextChoices):
        APPROVE = "approve"
        DENY = "deny"

    request = models.ForeignKey(AccessRequest, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "approver"], name="approval_one_per_approver"),
        ]

    def __str__(self):
        return f"{self.decision} by {self.approver} on #{self.request_id}"

    @property
    def approver_label(self) -> str:
        return person_label(self.approver)


# The approvals of the requests read, oldest first, with their approvers and profiles: every list, detail and
# action's answer reads them, so the read is compiled once (and the IDs go as one array, whatever their number).
_APPROVALS_OF = Compiled(
    lambda ids: Approval.objects.select_related("approver__profile").filter(request_id__in=ids_in(ids)),
    ids=list,
)


def load_approvals(requests: list[AccessRequest]) -> list[AccessRequest]:
    """Put onto each of `requests` its approvals (`approval_list`), each pointing back to it, in one query; a
    request whose approvals are there already (as a new one's, none) keeps them."""
    missing = [request for request in requests if getattr(request, APPROVALS_LOADED, None) is None]
    by_request = {request.pk: [] for request in missing}
    if by_request:
        for approval in _APPROVALS_OF(ids=list(by_request)):
            by_request[approval.request_id].append(approval)
    for request in missing:
        approvals = by_request[request.pk]
        for approval in approvals:
            Approval.request.field.set_cached_value(approval, request)
        setattr(request, APPROVALS_LOADED, approvals)
    return requests


class RequestTally(models.Model):
    """How many requests there are, kept by the database itself: one row, changed by triggers on the requests.

    Each INSERT, DELETE or TRUNCATE of requests changes it in its own transaction (migration 0008), so it is
    exact wherever a COUNT of every request would be, and reading it costs the same for ten rows or a million.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    total = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.total} requests"


class AppendOnly(Exception):
    """Audit events are never changed or removed."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnly("Audit events cannot be updated.")

    def delete(self):
        raise AppendOnly("Audit events cannot be deleted.")

    def bulk_create(self, *args, **kwargs):
        raise AppendOnly("Write audit events with audit_record() or audit_record_many(), which keep the hash chain.")

    def bulk_update(self, *args, **kwargs):
        raise AppendOnly("Audit events cannot be updated.")


class AuditEvent(models.Model):
    """An append-only record of who did what; each row carries the hash of the one before."""

    at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    actor_label = models.CharField(max_length=255)
    action = models.CharField(max_length=64)
    request = models.ForeignKey(AccessRequest, on_delete=models.PROTECT, null=True, blank=True)
    role = models.ForeignKey(AccessRole, on_delete=models.PROTECT, null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["request", "id"], name="audit_request_idx"),
            models.Index(fields=["action", "at"], name="audit_action_at_idx"),
            # The history's usual filter, an action of one role since a time: its newest page read in the order
            # of the IDs, however many other events came since, and counted from the index alone (`at` included).
            models.Index(fields=["action", "role", "id"], include=["at"], name="audit_action_role_id_idx"),
            models.Index(fields=["at"], name="audit_at_idx"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnly("Audit events cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("Audit events cannot be deleted.")

    def canonical(self) -> str:
        """Return the row's content as canonical JSON: the input of its hash."""
        return json.dumps(
            {
                "at": self.at.isoformat(),
                "actor": self.actor_id,
                "actor_label": self.actor_label,
                "action": self.action,
                "request": self.request_id,
                "role": self.role_id,
                "ip": self.ip,
                "user_agent": self.user_agent,
                "details": self.details,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )

    def compute_hash(self) -> str:
        return hashlib.sha256((self.prev_hash + self.canonical()).encode()).hexdigest()


def person_label(user) -> str:
    """Return the name people know a person by (their UPN), never the internal username (`<tid>.<oid>`)."""
    profile = getattr(user, "profile", None)
    return (profile.upn if profile and profile.upn else None) or user.get_username()
