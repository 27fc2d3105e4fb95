"""The OpenAPI schema documents the error answers of every endpoint, with their one body."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    import io
    import json

    out = io.StringIO()
    with django_db_blocker.unblock():
        call_command("spectacular", "--format", "openapi-json", "--validate", "--fail-on-warn", stdout=out)
    return json.loads(out.getvalue())


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def test_every_operation_documents_401_with_the_error_body(schema):
    for path, method, operation in _operations(schema):
        response = operation["responses"].get("401")
        assert response, f"{method.upper()} {path} does not document 401"
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_the_error_body_has_a_code_and_a_detail(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "detail"]


def test_writes_document_bad_input_and_state_conflicts(schema):
    approve = schema["paths"]["/api/v1/requests/{request_id}/approve"]["post"]["responses"]
    assert {"400", "403", "404", "409", "429"} <= set(approve)
    create = schema["paths"]["/api/v1/requests"]["post"]["responses"]
    assert {"400", "404", "409"} <= set(create)


def test_the_reveal_documents_gone_and_vault_unavailable(schema):
    reveal = schema["paths"]["/api/v1/requests/{request_id}/credentials"]["post"]["responses"]
    assert {"410", "503"} <= set(reveal)


def test_reading_who_you_are_is_never_forbidden(schema):
    assert "403" not in schema["paths"]["/api/v1/me"]["get"]["responses"]
    assert "409" not in schema["paths"]["/api/v1/grants/revoke"]["post"]["responses"]


def test_an_error_is_json_even_when_csv_was_asked_for(client, django_user_model):
    from tests.access.conftest import make_user

    client.force_login(make_user("erin"))

    response = client.get("/api/v1/audit", {"format": "csv"})

    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "forbidden"


def test_an_unknown_api_url_answers_with_the_json_error_body(client):
    response = client.post("/api/v1/requests/not-a-number/credentials")

    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "There is no such endpoint."}


def test_an_unknown_page_still_gets_the_friendly_page(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
