"""The access workflow's JSON API (the contract in the README, "Automation"): roles, requests, decisions, audit."""

from functools import partial

from django.conf import settings
from django.core.paginator import Paginator
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import renderers, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.access import exports, policy, selectors, services
from portal.access.audit import audit_count
from portal.access.models import AccessRequest, AccessRole, AuditEvent
from portal.access.serializers import (
    ApproveSerializer,
    AuditEventSerializer,
    BulkRevokeSerializer,
    CredentialsSerializer,
    DenySerializer,
    ExtendSerializer,
    RequestCreateSerializer,
    RequestSerializer,
    RevokeSerializer,
    RoleSerializer,
)
from portal.breakglass.selectors import policies_for
from portal.core.api import valid_body
from portal.core.errors import InvalidInput, NotFound
from portal.core.paging import FirstPageFirst
from portal.core.ratelimit import rate_limited


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    django_paginator_class = FirstPageFirst

    @property
    def max_page_size(self) -> int:
        return settings.API_PAGE_SIZE_MAX

    def paginate_listing(self, listing: selectors.Listing, request, view=None) -> list:
        """Return the page of `listing` the call asks for; the first page through its compiled read."""
        self.django_paginator_class = partial(type(self).django_paginator_class, first_rows=listing.first)
        return self.paginate_queryset(listing.queryset, request, view=view)


class _AllRequestsPaginator(FirstPageFirst):
    @cached_property
    def count(self) -> int:
        # Every request, unfiltered: the database keeps their number, exact, rather than counting them each time.
        return selectors.requests_total()


class AllRequestsPagination(Pagination):
    django_paginator_class = _AllRequestsPaginator


class _AuditPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        # A million events take tens of milliseconds to count; the trail only grows, so a count is carried on.
        return audit_count(self.object_list)


class AuditPagination(Pagination):
    django_paginator_class = _AuditPaginator


def _page_of(serializer_class, name: str):
    """Describe one page of a paginated list of `serializer_class` items in the schema."""
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )


def _visible(user, request_id: int):
    found = selectors.request_visible_to(user, request_id)
    if found is None:
        raise _not_found(request_id)
    return found


def _check_visible(user, request_id: int) -> int | None:
    """Refuse a request `user` may not see before acting on it; the action reads the request itself.

    Return the ID of the grant the request extends (None: none), which an action that locks both takes first.
    """
    found = selectors.request_checked_for(user, request_id)
    if found is None:
        raise _not_found(request_id)
    return found.extends_id


def _not_found(request_id: int) -> NotFound:
    # The same answer for "unknown" and "not yours to see".
    return NotFound(f"There is no request #{request_id}.")


def _answer(acted_on: AccessRequest | list[AccessRequest]):
    """Return the answer to an action: the request (or requests) as the action left it, not read again.

    The service read each with its role and requester; what else the answer shows is read for all at once.
    """
    many = isinstance(acted_on, list)
    requests = selectors.load_related(acted_on if many else [acted_on])
    return RequestSerializer(requests, many=True).data if many else RequestSerializer(requests[0]).data


class RolesView(APIView):
    @extend_schema(responses=RoleSerializer(many=True), summary="Roles the caller may request")
    def get(self, request):
        eligible = selectors.roles_eligible(request.user)
        because = {item.role.pk: item.because for item in eligible}
        roles = [item.role for item in eligible]
        context = {"because": because, "break_glass": policies_for(roles)}
        return Response(RoleSerializer(roles, many=True, context=context).data)


class RequestsView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("scope", str, enum=["mine", "to_review", "all"], default="mine")],
        responses=_page_of(RequestSerializer, "PaginatedRequestList"),
        # A page object is not "many": name the operation, or it collides with the detail's.
        operation_id="requests_list",
        summary="List requests, newest first",
    )
    def get(self, request):
        scope = request.query_params.get("scope", "mine")
        if scope not in ("mine", "to_review", "all"):
            raise InvalidInput("scope is one of mine, to_review, all.", fields={"scope": ["Unknown scope."]})
        if scope == "all":
            policy.check_admin(request.user, doing="list all requests")
        paginator = AllRequestsPagination() if scope == "all" else Pagination()
        page = paginator.paginate_listing(selectors.requests_listed(request.user, scope), request, view=self)
        return paginator.get_paginated_response(RequestSerializer(page, many=True).data)

    @extend_schema(request=RequestCreateSerializer, responses={201: RequestSerializer}, summary="Request a role")
    @rate_limited("request_create")
    def post(self, request):
        data = valid_body(RequestCreateSerializer, request.data)
        created = services.request_create(actor=request.user, http_request=request, **data)
        return Response(_answer(created), status=status.HTTP_201_CREATED)


class RequestDetailView(APIView):
    @extend_schema(responses=RequestSerializer, summary="One request")
    def get(self, request, request_id: int):
        return Response(RequestSerializer(_visible(request.user, request_id)).data)


class ApproveView(APIView):
    @extend_schema(request=ApproveSerializer, responses=RequestSerializer, summary="Approve a pending request")
    @rate_limited("approval")
    def post(self, request, request_id: int):
        extends_id = _check_visible(request.user, request_id)
        data = valid_body(ApproveSerializer, request.data)
        acted_on = services.request_approve(
            actor=request.user, request_id=request_id, extends_id=extends_id, http_request=request, **data
        )
        return Response(_answer(acted_on))


class DenyView(APIView):
    @extend_schema(request=DenySerializer, responses=RequestSerializer, summary="Deny a pending request")
    @rate_limited("approval")
    def post(self, request, request_id: int):
        _check_visible(request.user, request_id)
        data = valid_body(DenySerializer, request.data)
        acted_on = services.request_deny(actor=request.user, request_id=request_id, http_request=request, **data)
        return Response(_answer(acted_on))


class CancelView(APIView):
    @extend_schema(request=None, responses=RequestSerializer, summary="Cancel one's own pending request")
    def post(self, request, request_id: int):
        _check_visible(request.user, request_id)
        acted_on = services.request_cancel(actor=request.user, request_id=request_id, http_request=request)
        return Response(_answer(acted_on))


class ExtendView(APIView):
    @extend_schema(request=ExtendSerializer, responses={201: RequestSerializer}, summary="Ask to extend a grant")
    @rate_limited("request_create")
    def post(self, request, request_id: int):
        _check_visible(request.user, request_id)
        data = valid_body(ExtendSerializer, request.data)
        extension = services.request_extend(actor=request.user, request_id=request_id, http_request=request, **data)
        return Response(_answer(extension), status=status.HTTP_201_CREATED)


class RevokeView(APIView):
    @extend_schema(request=RevokeSerializer, responses=RequestSerializer, summary="Revoke a grant")
    def post(self, request, request_id: int):
        _check_visible(request.user, request_id)
        data = valid_body(RevokeSerializer, request.data)
        acted_on = services.grant_revoke(actor=request.user, request_id=request_id, http_request=request, **data)
        return Response(_answer(acted_on))


class CredentialsView(APIView):
    @extend_schema(
        request=None,
        responses={200: CredentialsSerializer},
        summary="Reveal a grant's credentials, once (410 afterwards)",
    )
    @rate_limited("reveal")
    def post(self, request, request_id: int):
        extends_id = _check_visible(request.user, request_id)
        revealed = services.grant_reveal(
            actor=request.user, request_id=request_id, extends_id=extends_id, http_request=request
        )
        body = {
            "username": revealed.username,
            "password": revealed.password,
            "host": revealed.host,
            "port": revealed.port,
            "database": revealed.database,
            "connection_uri": revealed.connection_uri,
            "expires_at": revealed.expires_at,
        }
        response = Response(CredentialsSerializer(body).data)
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response


class BulkRevokeView(APIView):
    @extend_schema(
        request=BulkRevokeSerializer,
        responses=RequestSerializer(many=True),
        summary="Revoke every grant of a user or of a role (admins)",
    )
    def post(self, request):
        policy.check_admin(request.user, doing="revoke grants in bulk")
        data = valid_body(BulkRevokeSerializer, request.data)
        scope = {}
        if "user" in data:
            scope["user"] = selectors.person_by_oid_or_upn(data["user"])
        else:
            role = AccessRole.objects.filter(slug=data["role"]).first()
            if role is None:
                raise NotFound(f"There is no role {data['role']!r}.")
            scope["role"] = role
        revoked = services.grants_revoke_bulk(actor=request.user, reason=data["reason"], http_request=request, **scope)
        return Response(_answer(revoked))


class CSVRenderer(renderers.BaseRenderer):
    """Let `?format=csv` through content negotiation; the view streams the CSV itself."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class AuditView(APIView):
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer, CSVRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("actor", str, description="UPN of the actor, or `system`"),
            OpenApiParameter("role", str, description="role slug"),
            OpenApiParameter("request", int),
            OpenApiParameter("action", str),
            OpenApiParameter("since", OpenApiTypes.DATETIME),
            OpenApiParameter("until", OpenApiTypes.DATETIME),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
        responses=_page_of(AuditEventSerializer, "PaginatedAuditEventList"),
        summary="Audit events (admins)",
    )
    def get(self, request):
        policy.check_admin(request.user, doing="read the audit trail")
        events = self._filtered(request.query_params)
        if request.query_params.get("format") == "csv":
            return exports.streamed(events, "csv", filename="latchkey-audit")
        paginator = AuditPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventSerializer(page, many=True).data)

    def _filtered(self, params):
        events = AuditEvent.objects.select_related("role").order_by("-id")
        errors = {}
        if params.get("actor"):
            events = events.filter(actor_label=params["actor"])
        if params.get("role"):
            # By the role's ID, which an event keeps, not by its slug, which a rename would move (see audit_count).
            role = AccessRole.objects.filter(slug=params["role"]).values_list("pk", flat=True).first()
            events = events.filter(role_id=role) if role is not None else events.none()
        if params.get("action"):
            events = events.filter(action=params["action"])
        if params.get("request"):
            if params["request"].isdigit():
                events = events.filter(request_id=int(params["request"]))
            else:
                errors["request"] = ["A request ID is a whole number."]
        for name, lookup in (("since", "at__gte"), ("until", "at__lt")):
            if params.get(name):
                value = parse_datetime(params[name])
                if value is None or value.tzinfo is None:
                    errors[name] = ["Give an ISO 8601 time with its time zone, e.g. 2030-01-31T09:00:00Z."]
                else:
                    events = events.filter(**{lookup: value})
        if errors:
            raise InvalidInput("The filters are not valid.", fields=errors)
        return events
