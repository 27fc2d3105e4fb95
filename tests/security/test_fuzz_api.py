"""The API fuzzed from its own OpenAPI schema, on a live server, as alice, bob and carol.

Every generated call (valid and invalid) must end in a documented answer: no 5xx, a body
that matches the schema, and a refused call changes nothing in the workflow's tables.
"""

import hashlib

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from portal.access import services
from portal.access.models import AccessRequest, Approval
from portal.celery import app
from tests.support.grants import WHY

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CASES_PER_PERSONA = 350
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


def workflow_state() -> str:
    """Return a fingerprint of every request and decision, to tell whether a call changed anything."""
    rows = list(AccessRequest.objects.order_by("pk").values_list("pk", "state", "duration_minutes", "ends_at"))
    rows += list(Approval.objects.order_by("pk").values_list("pk", "decision"))
    return hashlib.sha256(repr(rows).encode()).hexdigest()


@pytest.fixture
def fuzz_settings(settings, stack):
    # A running worker would move approved requests on while the fuzzer compares fingerprints.
    stack.stop_process("test-worker")
    # Thousands of calls in a minute are the point here, not what the rate limits are for.
    settings.RATE_LIMITS = {scope: "1000000/m" for scope in settings.RATE_LIMITS}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    yield
    # Tasks enqueued by approvals here are for this test's rows only; no worker ran during it.
    app.control.purge()


@pytest.fixture
def known_requests(people, catalog):  # noqa: F811
    """Give the fuzzer real request IDs of several owners and states to aim at."""
    pending = services.request_create(
        actor=people["alice"], role="orders-readwrite", justification=WHY, duration_minutes=30
    )
    admin = services.request_create(actor=people["dave"], role="orders-admin", justification=WHY, ticket="OPS-7")
    denied = services.request_create(actor=people["bob"], role="orders-readwrite", justification=WHY)
    services.request_deny(actor=people["carol"], request_id=denied.pk, comment="Not this week")
    return [pending.pk, admin.pk, denied.pk]


def operation_strategies(schema, request_ids):
    strategies = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies.append(operation.as_strategy(generation_mode=mode))
            if "{request_id}" in operation.path:
                strategies += [
                    operation.as_strategy(generation_mode=mode, path_parameters={"request_id": pk})
                    for pk in request_ids
                ]
    return st.one_of(strategies)


@pytest.mark.long
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", ["alice", "bob", "carol"])
def test_every_generated_call_gets_a_documented_answer_and_refusals_change_nothing(
    live_server,
    token_issuer,  # noqa: F811
    fuzz_settings,
    known_requests,
    name,
):
    headers = {"Authorization": f"Bearer {token_issuer.user_token(name)}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/", headers=headers, timeout=30)
    operations = {result.ok().label for result in schema.get_all_operations()}
    assert {"POST /api/v1/requests", "POST /api/v1/requests/{request_id}/approve", "GET /api/v1/audit"} <= operations
    statuses = {}

    @settings(
        max_examples=CASES_PER_PERSONA,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation_strategies(schema, known_requests))
    def call(case):
        before = workflow_state()
        response = case.call(base_url=live_server.url, headers=headers, timeout=30)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS, headers=headers)
        if response.status_code >= 400:
            assert workflow_state() == before, f"{case.method} {case.formatted_path} -> {response.status_code}"

    call()

    assert sum(statuses.values()) >= CASES_PER_PERSONA
    assert not [status for status in statuses if status >= 500], statuses
