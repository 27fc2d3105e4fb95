"""The JSON API of access reviews: campaigns, decisions, the removals export and right-sizing figures."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import renderers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.access.models import REASON_MAX_CHARS
from portal.accounts.selectors import is_portal_admin
from portal.core.api import valid_body
from portal.core.errors import InvalidInput, NotAllowed, NotFound
from portal.reviews import exports, rightsizing, selectors, services
from portal.reviews.models import Campaign, ReviewItem, WhenOverdue


class CSVRenderer(renderers.BaseRenderer):
    """Let `?format=csv` through content negotiation; the view writes the CSV itself."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


# The shared error body; `portal.core.schema` fills in the component of this name.
ERROR = inline_serializer("Error", fields={"error": serializers.CharField(), "detail": serializers.CharField()})


class CampaignStartSerializer(serializers.Serializer):
    role = serializers.CharField(required=False, allow_null=True, help_text="role slug; leave out for every role")
    due_at = serializers.DateTimeField()
    when_overdue = serializers.ChoiceField(choices=WhenOverdue.values)
    repeat_every_days = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class DecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["keep", "remove"])
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=REASON_MAX_CHARS)


class EvidenceSerializer(serializers.Serializer):
    last_request_at = serializers.DateTimeField(allow_null=True)
    requests_recent = serializers.IntegerField(help_text="requests in the last 90 days")
    requests_total = serializers.IntegerField()
    last_reveal_at = serializers.DateTimeField(allow_null=True)
    open_grants = serializers.IntegerField()


class ItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    campaign = serializers.IntegerField(source="campaign_id")
    role = serializers.CharField(source="role.slug")
    upn = serializers.CharField()
    oid = serializers.CharField()
    display_name = serializers.CharField()
    eligible_through = serializers.ListField(child=serializers.CharField(), help_text="group object IDs or app roles")
    seen_at_sign_in = serializers.BooleanField()
    seen_in_graph = serializers.BooleanField()
    decision = serializers.CharField()
    reason = serializers.CharField()
    decided_by = serializers.SerializerMethodField()
    decided_at = serializers.DateTimeField(allow_null=True)
    decided_when_overdue = serializers.BooleanField()
    revoked_requests = serializers.ListField(child=serializers.IntegerField())
    evidence = EvidenceSerializer(required=False)

    def get_decided_by(self, item) -> str | None:
        return selectors.user_label(item.decided_by) if item.decided_by_id else None


class CampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.SerializerMethodField()
    state = serializers.CharField()
    due_at = serializers.DateTimeField()
    when_overdue = serializers.CharField()
    started_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    sources = serializers.ListField(child=serializers.CharField())
    progress = serializers.SerializerMethodField()

    def get_role(self, campaign) -> str | None:
        return campaign.role.slug if campaign.role_id else None

    def get_progress(self, campaign) -> dict:
        progress = selectors.progress_of(campaign)
        return {
            "total": progress.total,
            "kept": progress.kept,
            "removed": progress.removed,
            "pending": progress.pending,
        }


class RemovalSerializer(serializers.Serializer):
    campaign = serializers.IntegerField()
    role = serializers.CharField()
    person_upn = serializers.CharField()
    person_object_id = serializers.CharField()
    remove_from = serializers.CharField(help_text="the group (or app role) to remove the person from")
    group_object_id = serializers.CharField(help_text="empty for an app role")
    reason = serializers.CharField()
    decided_by = serializers.CharField()
    decided_at = serializers.CharField()
    decided_at_due_date = serializers.ChoiceField(choices=["yes", "no"])


class RoleSizingSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    default_duration_minutes = serializers.IntegerField()
    max_duration_minutes = serializers.IntegerField()
    grants = serializers.IntegerField(help_text="grants issued in the window")
    requested_median_minutes = serializers.FloatField(allow_null=True)
    used_most_minutes = serializers.FloatField(allow_null=True, help_text="80% of ended grants were held at most this")
    reveal_median_minutes = serializers.FloatField(allow_null=True)
    revoked_early = serializers.IntegerField()
    held_before_revoke_median_minutes = serializers.FloatField(allow_null=True)
    ended = serializers.IntegerField()
    never_revealed = serializers.IntegerField()
    eligible = serializers.IntegerField()
    idle_eligible = serializers.IntegerField()
    suggested_default_minutes = serializers.IntegerField(allow_null=True)
    suggestion = serializers.CharField()


class RightSizingSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    roles = RoleSizingSerializer(many=True)


class CampaignDetailSerializer(CampaignSerializer):
    items = serializers.SerializerMethodField()

    def get_items(self, campaign) -> list[dict]:
        items = list(selectors.items_of(campaign))
        evidence = selectors.evidence_for(items)
        for item in items:
            item.evidence = evidence[item.pk]
        return ItemSerializer(items, many=True).data


def _visible_campaign(user, campaign_id: int) -> Campaign:
    campaign = selectors.campaigns_all().filter(pk=campaign_id).first()
    if campaign is None or not selectors.may_see_campaign(user, campaign):
        # The same answer for "unknown" and "not yours to see".
        raise NotFound(f"There is no review #{campaign_id}.")
    return campaign


class CampaignsView(APIView):
    @extend_schema(responses=CampaignSerializer(many=True), summary="Access reviews the caller runs or decides")
    def get(self, request):
        return Response(CampaignSerializer(selectors.campaigns_visible_to(request.user), many=True).data)

    @extend_schema(
        request=CampaignStartSerializer,
        responses={201: CampaignDetailSerializer, 409: ERROR, 503: ERROR},
        summary="Start a review (admins)",
    )
    def post(self, request):
        if not is_portal_admin(request.user):
            raise NotAllowed("Only portal admins can start an access review.")
        data = valid_body(CampaignStartSerializer, request.data)
        campaign = services.campaign_start(
            actor=request.user,
            role=data.get("role") or None,
            due_at=data["due_at"],
            when_overdue=data["when_overdue"],
            repeat_every_days=data.get("repeat_every_days"),
            http_request=request,
        )
        return Response(CampaignDetailSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailView(APIView):
    @extend_schema(responses=CampaignDetailSerializer, summary="One review with every person and their evidence")
    def get(self, request, campaign_id: int):
        return Response(CampaignDetailSerializer(_visible_campaign(request.user, campaign_id)).data)


class DecideView(APIView):
    @extend_schema(
        request=DecisionSerializer, responses={200: ItemSerializer, 409: ERROR}, summary="Keep or remove one person"
    )
    def post(self, request, item_id: int):
        data = valid_body(DecisionSerializer, request.data)
        item = services.item_decide(
            actor=request.user,
            item_id=item_id,
            decision=data["decision"],
            reason=data["reason"],
            http_request=request,
        )
        return Response(
            ItemSerializer(ReviewItem.objects.select_related("role", "decided_by__profile").get(pk=item.pk)).data
        )


class RemovalsView(APIView):
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("campaign", int, description="one review's removals only"),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
        responses={200: RemovalSerializer(many=True), 400: ERROR, 404: ERROR},
        summary="Group memberships that Entra admins should remove (admins)",
    )
    def get(self, request):
        if not is_portal_admin(request.user):
            raise NotAllowed("Only portal admins can read the removals.")
        campaign = None
        if request.query_params.get("campaign"):
            raw = request.query_params["campaign"]
            if not raw.isdigit():
                raise InvalidInput("A review ID is a whole number.", fields={"campaign": ["A whole number."]})
            campaign = Campaign.objects.filter(pk=int(raw)).first()
            if campaign is None:
                raise NotFound(f"There is no review #{raw}.")
        rows = selectors.removals(campaign=campaign)
        if request.query_params.get("format") == "csv":
            return exports.removals_csv(rows, filename="latchkey-review-removals")
        return Response([dict(zip(exports.REMOVAL_COLUMNS, exports.removal_values(row), strict=True)) for row in rows])


class RightSizingView(APIView):
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["json", "csv"])],
        responses={200: RightSizingSerializer, 404: ERROR},
        summary="Per role, the access asked for against what was used (admins)",
    )
    def get(self, request):
        if not is_portal_admin(request.user):
            raise NotAllowed("Only portal admins can read the right-sizing report.")
        rows = rightsizing.rightsizing()
        if request.query_params.get("format") == "csv":
            return exports.rightsizing_csv(rows)
        return Response({"days": rightsizing.WINDOW_DAYS, "roles": [row.as_dict() for row in rows]})
