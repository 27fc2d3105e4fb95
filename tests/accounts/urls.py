"""Test-only views guarded by the fresh-memberships checks, the way request and approve views use them."""

from django.http import HttpResponse
from django.urls import include, path
from rest_framework.decorators import api_view
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.accounts.permissions import HasFreshMemberships, require_fresh_memberships


@require_fresh_memberships
def approve_page(request):
    return HttpResponse("approved")


@api_view(["POST"])
@require_fresh_memberships
def approve_api(request):
    return Response({"approved": True})


class RequestApi(APIView):
    permission_classes = [IsAuthenticated, HasFreshMemberships]

    def post(self, request):
        return Response({"requested": True})


urlpatterns = [
    path("approve", approve_page),
    path("api/approve", approve_api),
    path("api/request", RequestApi.as_view()),
    path("", include("portal.urls")),
]
