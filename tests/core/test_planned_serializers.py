"""The API's answers, written with fields built once a class, are the answers DRF writes with fields built per call."""

from datetime import timedelta

import pytest
from rest_framework import serializers
from rest_framework.test import APIClient

from portal.access import selectors, services
from portal.access.models import AccessRequest, AuditEvent
from portal.access.serializers import AuditEventSerializer, CredentialsSerializer, RequestSerializer, RoleSerializer
from portal.breakglass import services as break_glass
from portal.breakglass.models import BreakGlassUse
from portal.breakglass.serializers import BreakGlassUseListSerializer
from portal.core import clock
from portal.core.serializers import Planned
from tests.breakglass.conftest import allow_break_glass

pytestmark = pytest.mark.django_db
WHY = "Investigating the late orders of ticket OPS-12"


def _as_drf_writes(monkeypatch, write):
    """Return what `write()` gives with DRF's own `to_representation`, fields built for each serializer."""
    with monkeypatch.context() as patched:
        patched.delattr(Planned, "to_representation")
        return write()


@pytest.fixture
def history(alice, bob, dave, catalog, sent):
    """Requests in most shapes an answer has: waiting with a start asked for, active and revealed with an
    approval, an extension, a break-glass grant held up by Vault."""
    now = clock.now()
    waiting = services.request_create(
        actor=alice, role="analytics-readonly", justification=WHY, starts_at=now + timedelta(hours=2)
    )
    approved = services.request_create(actor=alice, role="orders-readwrite", justification=WHY)
    services.request_approve(actor=bob, request_id=approved.pk, comment="ok, for the incident")
    AccessRequest.objects.filter(pk=approved.pk).update(
        state=AccessRequest.State.ACTIVE, starts_at=now, ends_at=now + timedelta(minutes=30), revealed_at=now
    )
    extension = AccessRequest.objects.create(
        role=approved.role, requester=alice, state=AccessRequest.State.PENDING, justification=WHY,
        duration_minutes=15, extends=AccessRequest.objects.get(pk=approved.pk),
    )  # fmt: skip
    allow_break_glass(catalog["orders-admin"], incident_pattern=r"^INC-[0-9]+$")
    use = break_glass.break_glass_activate(actor=dave, role="orders-admin", justification=WHY, incident="INC-42")
    AccessRequest.objects.filter(pk=use.request_id).update(last_error="Vault answered 503")
    BreakGlassUse.objects.filter(pk=use.pk).update(reviewer=bob, review_comment="fine")
    return [waiting.pk, approved.pk, extension.pk, use.request_id]


def test_requests_are_written_as_drf_writes_them(monkeypatch, history):
    requests = selectors.load_related(list(selectors.requests_all().filter(pk__in=history).order_by("pk")))
    planned = RequestSerializer(requests, many=True).data
    assert _as_drf_writes(monkeypatch, lambda: RequestSerializer(requests, many=True).data) == planned
    # Each shape is there: approvals, an extension, a break-glass use, an error, a requested start.
    assert [bool(item["approvals"]) for item in planned].count(True) == 1
    assert any(item["extends"] for item in planned) and any(item["break_glass"] for item in planned)
    assert any(item["waiting_for_vault"] for item in planned) and all(item["starts_at"] for item in planned[:2])
    one = RequestSerializer(requests[1]).data
    assert one == planned[1] and _as_drf_writes(monkeypatch, lambda: RequestSerializer(requests[1]).data) == one


def test_the_api_answers_as_drf_would(monkeypatch, history, alice, carol):
    client = APIClient()
    client.force_authenticate(carol)
    paths = [
        "/api/v1/requests?scope=all",
        f"/api/v1/requests/{history[1]}",
        "/api/v1/audit",
        "/api/v1/break-glass/reviews",
    ]
    for path in paths:
        planned = client.get(path)
        assert planned.status_code == 200, (path, planned.content)
        assert _as_drf_writes(monkeypatch, lambda path=path: client.get(path).content) == planned.content, path
    client.force_authenticate(alice)
    planned = client.get("/api/v1/roles")
    assert planned.json() and _as_drf_writes(monkeypatch, lambda: client.get("/api/v1/roles").content) == (
        planned.content
    )


def test_events_roles_and_break_glass_uses_are_written_as_drf_writes_them(monkeypatch, history, alice):
    events = list(AuditEvent.objects.select_related("role").order_by("pk"))
    uses = list(BreakGlassUse.objects.select_related("role", "request"))
    roles = [item.role for item in selectors.roles_eligible(alice)]
    for write in (
        lambda: AuditEventSerializer(events, many=True).data,
        lambda: BreakGlassUseListSerializer(uses, many=True).data,
        lambda: RoleSerializer(roles, many=True, context={"because": {roles[0].pk: ["a group"]}}).data,
    ):
        planned = write()
        assert planned and _as_drf_writes(monkeypatch, write) == planned


def test_revealed_credentials_are_written_as_drf_writes_them(monkeypatch):
    body = {
        "username": "v-token-orders-rw-x1",
        "password": "not-a-real-password",
        "host": "db.contoso.example",
        "port": 5432,
        "database": "orders",
        "connection_uri": "postgresql://v-token-orders-rw-x1:not-a-real-password@db.contoso.example:5432/orders",
        "expires_at": clock.now(),
    }
    planned = CredentialsSerializer(body).data
    assert planned["port"] == 5432 and planned["expires_at"].endswith("Z")
    assert _as_drf_writes(monkeypatch, lambda: CredentialsSerializer(body).data) == planned


def test_a_method_sees_the_context_of_its_own_serializer(catalog, alice):
    roles = [item.role for item in selectors.roles_eligible(alice)]
    first = RoleSerializer(roles, many=True, context={"because": {roles[0].pk: ["one"]}}).data
    second = RoleSerializer(roles, many=True, context={"because": {roles[0].pk: ["two"]}}).data
    assert first[0]["eligible_through"] == ["one"] and second[0]["eligible_through"] == ["two"]


def test_a_field_that_may_read_its_context_is_refused_when_the_fields_are_built(db):
    class Linked(Planned, serializers.ModelSerializer):
        role = serializers.HyperlinkedRelatedField(view_name="role-detail", read_only=True)

        class Meta:
            model = AccessRequest
            fields = ["id", "role"]

    with pytest.raises(TypeError, match="Linked.role"):
        Linked().to_representation(AccessRequest(pk=1))


def test_a_nested_serializer_with_a_method_is_refused(db):
    class Inner(Planned, serializers.ModelSerializer):
        said = serializers.SerializerMethodField()

        class Meta:
            model = AccessRequest
            fields = ["id", "said"]

        def get_said(self, obj):
            return self.context.get("said")

    class Outer(Planned, serializers.ModelSerializer):
        extends = Inner(read_only=True)

        class Meta:
            model = AccessRequest
            fields = ["id", "extends"]

    with pytest.raises(TypeError, match="Outer.extends.*methods"):
        Outer().to_representation(AccessRequest(pk=1))
