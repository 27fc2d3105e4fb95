"""The accounts part of the JSON API: who am I."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.accounts.selectors import is_approver, is_portal_admin, user_groups


class MeSerializer(serializers.Serializer):
    oid = serializers.CharField()
    tid = serializers.CharField()
    upn = serializers.CharField()
    name = serializers.CharField()
    groups = serializers.ListField(child=serializers.CharField())
    is_approver = serializers.BooleanField()
    is_admin = serializers.BooleanField()
    is_application = serializers.BooleanField()


class MeView(APIView):
    """Return who the caller is in Entra ID and what the portal lets them do."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        user = request.user
        profile = getattr(user, "profile", None)
        data = {
            "oid": profile.oid if profile else "",
            "tid": profile.tid if profile else "",
            "upn": profile.upn if profile else "",
            "name": profile.display_name if profile else user.get_full_name(),
            "groups": sorted(user_groups(user)),
            "is_approver": is_approver(user),
            "is_admin": is_portal_admin(user),
            "is_application": bool(profile and profile.is_application),
        }
        return Response(MeSerializer(data).data)
