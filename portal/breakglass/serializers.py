from rest_framework import serializers

from portal.breakglass.models import BreakGlassPolicy, BreakGlassUse
from portal.breakglass.selectors import window_minutes
from portal.core.serializers import Planned


class BreakGlassPolicySerializer(Planned, serializers.ModelSerializer):
    """How a role may be activated in an emergency."""

    max_minutes = serializers.SerializerMethodField()

    class Meta:
        model = BreakGlassPolicy
        fields = ["max_minutes", "incident_pattern", "uses_allowed", "window_days", "review_due_hours"]

    def get_max_minutes(self, obj) -> int:
        """Return the longest break-glass window: the policy's, never beyond the role's maximum."""
        return window_minutes(obj)


class ActivateSerializer(serializers.Serializer):
    incident = serializers.CharField(allow_blank=True)
    justification = serializers.CharField(allow_blank=True, trim_whitespace=False)
    # Absent means the longest break-glass window of the role.
    duration_minutes = serializers.IntegerField(required=False, allow_null=True, default=None)


class ReviewSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class BreakGlassUseSerializer(Planned, serializers.ModelSerializer):
    """How a break-glass grant is marked: its incident and the state of its mandatory review."""

    reviewer = serializers.CharField(source="reviewer_label")
    escalated = serializers.BooleanField()

    class Meta:
        model = BreakGlassUse
        fields = [
            "id",
            "incident",
            "activated_at",
            "review_state",
            "review_due_at",
            "reviewer",
            "review_comment",
            "decided_at",
            "escalated",
        ]


class BreakGlassUseListSerializer(BreakGlassUseSerializer):
    request = serializers.IntegerField(source="request_id")
    role = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    requester = serializers.CharField(source="request.requester_label")

    class Meta(BreakGlassUseSerializer.Meta):
        fields = ["request", "role", "requester", *BreakGlassUseSerializer.Meta.fields]
