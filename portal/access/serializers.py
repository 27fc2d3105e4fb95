from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.access.models import AccessRequest, AccessRole, Approval, AuditEvent
from portal.breakglass.selectors import policy_for
from portal.breakglass.serializers import BreakGlassPolicySerializer, BreakGlassUseSerializer


class RoleSerializer(serializers.ModelSerializer):
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
            "break_glass",
        ]

    @extend_schema_field(BreakGlassPolicySerializer(allow_null=True))
    def get_break_glass(self, obj) -> dict | None:
        """Return how the role may be activated in an emergency (null: it may not)."""
        policy = policy_for(obj)
        return BreakGlassPolicySerializer(policy).data if policy is not None else None


class ApprovalSerializer(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver_label")
    at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Approval
        fields = ["approver", "decision", "comment", "at"]


class RequestSerializer(serializers.ModelSerializer):
    role = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    requester = serializers.CharField(source="requester_label")
    starts_at = serializers.SerializerMethodField()
    approvals = ApprovalSerializer(many=True, read_only=True)
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
        return bool(obj.last_error) and obj.state in ("approved", "issuing", "revoking")

    def get_starts_at(self, obj) -> str | None:
        """Return the issued start, or until issuance the requested one (null: as soon as approved)."""
        value = obj.starts_at or obj.requested_starts_at
        return serializers.DateTimeField().to_representation(value) if value else None


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


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")
    role = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "action", "request", "role", "ip", "user_agent", "details", "hash"]


class RevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class BulkRevokeSerializer(serializers.Serializer):
    user = serializers.CharField(required=False, help_text="UPN of the holder whose grants to revoke")
    role = serializers.SlugField(required=False, help_text="slug of the role whose grants to revoke")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    def validate(self, data):
        if ("user" in data) == ("role" in data):
            raise serializers.ValidationError("Give either user or role.")
        return data


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField()
    host = serializers.CharField()
    port = serializers.IntegerField()
    database = serializers.CharField()
    connection_uri = serializers.CharField()
    expires_at = serializers.DateTimeField()
