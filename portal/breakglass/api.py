"""Break-glass in the JSON API: activate a role, list the uses to review, confirm or flag one."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.access.selectors import requests_all
from portal.access.serializers import RequestSerializer
from portal.breakglass import selectors, services
from portal.breakglass.serializers import (
    ActivateSerializer,
    BreakGlassUseListSerializer,
    ReviewSerializer,
)
from portal.core.api import valid_body
from portal.core.errors import NotFound
from portal.core.ratelimit import rate_limited


class ActivateView(APIView):
    @extend_schema(
        request=ActivateSerializer,
        responses={201: RequestSerializer},
        summary="Break the glass: get a role at once in an emergency (reviewed afterwards)",
    )
    @rate_limited("request_create")
    def post(self, request, slug: str):
        data = valid_body(ActivateSerializer, request.data)
        use = services.break_glass_activate(actor=request.user, role=slug, http_request=request, **data)
        return Response(RequestSerializer(requests_all().get(pk=use.request_id)).data, status=status.HTTP_201_CREATED)


class ReviewsView(APIView):
    @extend_schema(responses=BreakGlassUseListSerializer(many=True), summary="Break-glass uses awaiting your review")
    def get(self, request):
        return Response(BreakGlassUseListSerializer(selectors.uses_to_review(request.user), many=True).data)


def _reviewed(request, use_id: int, service) -> Response:
    if not selectors.uses_visible_to(request.user).filter(pk=use_id).exists():
        # The same answer for "unknown" and "not yours to see".
        raise NotFound(f"There is no break-glass use #{use_id}.")
    data = valid_body(ReviewSerializer, request.data)
    service(actor=request.user, use_id=use_id, http_request=request, **data)
    return Response(BreakGlassUseListSerializer(selectors.uses_visible_to(request.user).get(pk=use_id)).data)


class ConfirmView(APIView):
    @extend_schema(request=ReviewSerializer, responses=BreakGlassUseListSerializer, summary="Confirm a break-glass use")
    @rate_limited("approval")
    def post(self, request, use_id: int):
        return _reviewed(request, use_id, services.break_glass_confirm)


class FlagView(APIView):
    @extend_schema(
        request=ReviewSerializer,
        responses=BreakGlassUseListSerializer,
        summary="Flag a break-glass use as misuse (revokes its grant if open; comment required)",
    )
    @rate_limited("approval")
    def post(self, request, use_id: int):
        return _reviewed(request, use_id, services.break_glass_flag)
