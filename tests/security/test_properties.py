"""Random durations, start times and text, through the API and the request form: a clean refusal or a valid request."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.access.models import AccessRequest
from portal.access.services import JUSTIFICATION_MAX_CHARS, JUSTIFICATION_MIN_CHARS
from portal.core.clock import now
from tests.security.conftest import client_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

texts = st.one_of(
    st.text(max_size=40),
    st.text(min_size=JUSTIFICATION_MIN_CHARS, max_size=80),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1900, max_size=2100),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Zs"]), max_size=30),
    st.just("\x00" * 12),
    st.just("a" * 100_000),
)
durations = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from([0, 1, 240, 241, 2**31, -1]),
    st.none(),
    st.text(max_size=6),
    st.floats(allow_nan=True, allow_infinity=True),
)
start_times = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.just(UTC)).map(
        lambda moment: moment.isoformat()
    ),
    st.datetimes().map(lambda moment: moment.isoformat()),
    st.text(max_size=30),
    st.integers(),
)
roles = st.sampled_from(["orders-readwrite", "orders-admin", "analytics-readonly", "", "../../etc", "ORDERS"])


def _valid(created: AccessRequest, role) -> None:
    assert 1 <= created.duration_minutes <= role.max_duration_minutes
    assert JUSTIFICATION_MIN_CHARS <= len(created.justification.strip()) <= JUSTIFICATION_MAX_CHARS
    assert "\x00" not in created.justification + created.ticket
    if created.requested_starts_at is not None:
        assert created.requested_starts_at <= now() + timedelta(days=14, minutes=1)


@PROPERTY_SETTINGS
@given(role=roles, duration=durations, justification=texts, ticket=st.one_of(st.none(), texts), starts_at=start_times)
def test_the_api_answers_random_input_with_201_or_a_400_naming_the_field(
    unlimited, alice, catalog, role, duration, justification, ticket, starts_at
):
    body = {"role": role, "duration_minutes": duration, "justification": justification, "starts_at": starts_at}
    if ticket is not None:
        body["ticket"] = ticket

    response = client_for(alice).post("/api/v1/requests", body, content_type="application/json")

    assert response.status_code in (201, 400, 403, 404, 413), response.content[:300]
    answer = response.json()
    if response.status_code == 201:
        created = AccessRequest.objects.get(pk=answer["id"])
        _valid(created, catalog[role])
        # Keep the one-open-request-per-role rule from refusing the next example.
        AccessRequest.objects.filter(pk=created.pk).update(state="cancelled")
    else:
        assert set(answer) >= {"error", "detail"}
        if response.status_code == 400:
            assert answer.get("fields"), answer


@PROPERTY_SETTINGS
@given(duration=durations, justification=texts, ticket=texts, start=st.sampled_from(["now", "later", "x"]), when=texts)
def test_the_request_form_answers_random_input_with_the_request_or_field_errors(
    unlimited, dave, catalog, duration, justification, ticket, start, when
):
    form = {
        "duration_minutes": "" if duration is None else str(duration),
        "justification": justification,
        "ticket": ticket,
        "start": start,
        "starts_at": when,
        "tz": when,
    }

    response = client_for(dave).post("/access/requests/new/orders-admin/", form)

    assert response.status_code in (200, 302, 413), response.content[:300]
    if response.status_code == 302:
        created = AccessRequest.objects.filter(requester=dave).latest("pk")
        _valid(created, catalog["orders-admin"])
        AccessRequest.objects.filter(pk=created.pk).update(state="cancelled")
    elif response.status_code == 200:
        assert response.context["form"].errors
