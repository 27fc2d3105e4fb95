from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.access.models import REASON_MAX_CHARS, VAULT_WORK_STATES, AccessRequest, AccessRole, Approval, AuditEvent
from portal.access.selectors import approver_labels
from portal.breakglass.selectors import policy_for
from portal.breakglass.serializers import BreakGlassPolicySerializer, BreakGlassUseSerializer
from portal.core.serializers import Planned

# The one DateTimeField that the methods below write a moment with, as every such field of the API writes it.
_MOMENT = serializers.DateTimeField()


class RoleSerializer(Planned, serializers.ModelSerializer):
    """A role the caller may request, with what the page shows about it: why them, who approves, the ticket format."""

    eligible_through = serializers.SerializerMethodField()
    approver_groups = serializers.SerializerMethodField()
    break_glass = serializers.SerializerMethodField()

    class Meta:
        model = AccessRole
        fields = [
            "slug",
            "name",
            "description",
            "default_duration_minutes",
            "max_duration_minutes",
            "approvals_required",
            "ticket_required",
            "ticket_pattern",
            "eligible_through",
            "approver_groups",
            "break_glass",
        ]

    def get_eligible_through(self, obj) -> list[str]:
        """Return the caller's groups and app roles that make them eligible (the context's `because`)."""
        return self.context.get("because", {}).get(obj.pk, [])

    def get_approver_groups(self, obj) -> list[str]:
        """Return the names of the groups whose members may approve the role."""
        return approver_labels(obj)

    @extend_schema_field(BreakGlassPolicySerializer(allow_null=True))
    def get_break_glass(self, obj) -> dict | None:
        """Return how the role may be activated in an emergency (null: it may not)."""
        # A list reads every role's policy at once (the context's `break_glass`, by role ID).
        policies = self.context.get("break_glass")
        policy = policies.get(obj.pk) if policies is not None else policy_for(obj)
        return BreakGlassPolicySerializer(policy).data if policy is not None else None


class ApprovalSerializer(Planned, serializers.ModelSerializer):
    approver = serializers.CharField(source="approver_label")
    at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Approval
        fields = ["approver", "decision", "comment", "at"]


class RequestSerializer(Planned, serializers.ModelSerializer):
    role = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    requester = serializers.CharField(source="requester_label")
    starts_at = serializers.SerializerMethodField()
    approvals = ApprovalSerializer(many=True, read_only=True, source="approval_list")
    waiting_for_vault = serializers.SerializerMethodField()
    break_glass = serializers.SerializerMethodField()

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "role",
            "requester",
            "state",
            "justification",
            "ticket",
            "duration_minutes",
            "starts_at",
            "ends_at",
            "extends",
            "approvals",
            "created_at",
            "revealed_at",
            "waiting_for_vault",
            "last_error",
            "break_glass",
        ]

    @extend_schema_field(BreakGlassUseSerializer(allow_null=True))
    def get_break_glass(self, obj) -> dict | None:
        """Return the break-glass use that opened this grant (incident, review), or null."""
        use = getattr(obj, "break_glass_use", None)
        return BreakGlassUseSerializer(use).data if use is not None else None

    def get_waiting_for_vault(self, obj) -> bool:
        """Return whether issuing or revoking is held up by Vault (the worker retries)."""
        return bool(obj.last_error) and obj.state in VAULT_WORK_STATES

    def get_starts_at(self, obj) -> str | None:
        """Return the issued start, or until issuance the requested one (null: as soon as approved)."""
        value = obj.starts_at or obj.requested_starts_at
        return _MOMENT.to_representation(value) if value else None


class RequestCreateSerializer(serializers.Serializer):
    role = serializers.SlugField()
    duration_minutes = serializers.IntegerField(required=False, allow_null=True)
    justification = serializers.CharField(allow_blank=True, trim_whitespace=False)
    ticket = serializers.CharField(required=False, allow_blank=True, default="")
    starts_at = serializers.DateTimeField(required=False, allow_null=True)


class ApproveSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    duration_minutes = serializers.IntegerField(required=False, allow_null=True)


class DenySerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ExtendSerializer(serializers.Serializer):
    # Absent means the role's default, as for a new request.
    duration_minutes = serializers.IntegerField(required=False, allow_null=True, default=None)
    justification = serializers.CharField(allow_blank=True, trim_whitespace=False)


class AuditEventSerializer(Planned, serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")
    role = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "action", "request", "role", "ip", "user_agent", "details", "hash"]


# The service checks a reason (required in bulk, at most `REASON_MAX_CHARS`), so the page and the API answer alike.
_REASON_HELP = f"why, for the history; at most {REASON_MAX_CHARS} characters"


class RevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", help_text=_REASON_HELP)


class BulkRevokeSerializer(serializers.Serializer):
    user = serializers.CharField(
        required=False,
        help_text="object ID (oid) of the holder whose grants to revoke, or their UPN if it names exactly one person",
    )
    role = serializers.SlugField(required=False, help_text="slug of the role whose grants to revoke")
    reason = serializers.CharField(required=False, allow_blank=True, default="", help_text=_REASON_HELP + " (required)")

    def validate(self, data):
        if ("user" in data) == ("role" in data):
            raise serializers.ValidationError("Give either user or role.")
        return data


class CredentialsSerializer(Planned, serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField()
    host = serializers.CharField()
    port = serializers.IntegerField()
    database = serializers.CharField()
    connection_uri = serializers.CharField()
    expires_at = serializers.DateTimeField()
