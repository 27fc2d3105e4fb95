"""The OpenAPI schema names the bearer scheme and every endpoint; Swagger UI is served from the portal itself."""

import re

import pytest
import yaml
from django.test import Client
from django.urls import get_resolver

pytestmark = pytest.mark.django_db


def test_the_schema_offers_bearer_tokens_and_the_session_on_every_endpoint():
    schema = yaml.safe_load(Client().get("/api/v1/schema/").content)

    bearer = schema["components"]["securitySchemes"]["entraBearer"]
    assert bearer["type"] == "http" and bearer["scheme"] == "bearer"
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert operations
    assert all({"entraBearer": []} in op["security"] for op in operations)


def test_the_schema_lists_every_api_route():
    schema = yaml.safe_load(Client().get("/api/v1/schema/").content)
    routes = {
        "/api/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        for pattern in get_resolver("portal.api_urls").url_patterns
        if pattern.name not in ("api-schema", "api-docs")
    }

    assert routes <= set(schema["paths"])


def test_swagger_ui_is_browsable_with_its_assets_from_the_portal(client):
    response = client.get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/v1/schema/" in html or "api/v1/schema" in client.get("/api/v1/docs/?script").content.decode()
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert assets
    assert "cdn" not in html.lower()
