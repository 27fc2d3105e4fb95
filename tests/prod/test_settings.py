"""The production settings pass Django's deployment checks, and every response carries the security headers."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

from tests.prod.compose import env_example, production_dotenv, service_environment

REPO_ROOT = Path(__file__).resolve().parents[2]


def production_env() -> dict[str, str]:
    """Return the environment of the `web` container: `.env.example` filled in, as compose passes it."""
    return service_environment("web", production_dotenv())


def run_manage(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Nothing of the test run's own environment (which points at the local stack) leaks in.
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=REPO_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_nothing_with_the_production_environment():
    env = production_env()
    assert env["DJANGO_DEBUG"] in ("0", "false")

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_check_deploy_fails_when_production_hardening_is_switched_off():
    env = {**production_env(), "DJANGO_SECURE_SSL_REDIRECT": "false", "DJANGO_HSTS_SECONDS": "0"}

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout
    assert "security.W008" in result.stderr + result.stdout


def test_production_settings_refuse_to_start_without_a_secret():
    env = production_env()
    del env["CREDENTIAL_ENCRYPTION_KEY"]

    result = run_manage("check", env=env)

    assert result.returncode != 0
    assert "CREDENTIAL_ENCRYPTION_KEY" in result.stderr


def test_prepared_statements_are_on_unless_switched_off_for_a_pooler_that_cannot_keep_them():
    shown = "from django.conf import settings; print(sorted(settings.DATABASES['default']['OPTIONS'].items()))"

    on = run_manage("shell", "-c", shown, env=production_env())
    off = run_manage("shell", "-c", shown, env={**production_env(), "DATABASE_PREPARED_STATEMENTS": "false"})
    wrong = run_manage("check", env={**production_env(), "DATABASE_PREPARED_STATEMENTS": "sometimes"})

    # The last line: `shell` may say first what it imported.
    assert on.stdout.splitlines()[-1] == "[('prepare_threshold', 5), ('server_side_binding', True)]", on.stderr
    assert off.stdout.splitlines()[-1] == "[]", off.stderr
    assert wrong.returncode != 0
    assert "DATABASE_PREPARED_STATEMENTS must be true or false, not 'sometimes'" in wrong.stderr


def test_every_response_carries_the_security_headers():
    response = Client().get("/healthz")

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]


@override_settings(OIDC_ISSUER="https://login.microsoftonline.com/c0000000-0000-4000-8000-00000000000c/v2.0")
def test_content_security_policy_allows_only_the_portal_and_the_sign_in_provider():
    csp = dict(
        directive.strip().split(" ", 1) for directive in Client().get("/healthz")["Content-Security-Policy"].split(";")
    )

    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert csp["form-action"] == "'self' https://login.microsoftonline.com"
    assert "unsafe-inline" not in ";".join(csp.values())


@override_settings(
    SECURE_SSL_REDIRECT=True,
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
    SECURE_HSTS_SECONDS=31536000,
)
def test_plain_http_is_redirected_to_https_and_https_gets_hsts_behind_the_proxy():
    client = Client()

    redirected = client.get("/login/")
    secure = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    probe = client.get("/healthz")

    assert redirected.status_code == 301
    assert redirected["Location"].startswith("https://")
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")
    assert probe.status_code == 200, "the health probe must not be redirected"


def test_a_request_gets_a_new_request_id_and_keeps_a_valid_one_from_the_proxy():
    client = Client()

    fresh = client.get("/healthz")["X-Request-Id"]
    kept = client.get("/healthz", headers={"X-Request-Id": "proxy-req-12345678"})["X-Request-Id"]
    replaced = client.get("/healthz", headers={"X-Request-Id": "bad id\nwith newline"})["X-Request-Id"]

    assert re.fullmatch(r"[0-9a-f]{32}", fresh)
    assert kept == "proxy-req-12345678"
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)


@pytest.mark.parametrize(
    ("variable", "named"),
    [
        ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY"),
        ("OIDC_CLIENT_SECRET", "OIDC_CLIENT_SECRET"),
        ("CREDENTIAL_ENCRYPTION_KEY", "CREDENTIAL_ENCRYPTION_KEY"),
        ("POSTGRES_PASSWORD", "POSTGRES_PASSWORD"),
        ("WEB_VAULT_ROLE_ID", "WEB_VAULT_ROLE_ID"),
    ],
)
def test_production_settings_refuse_a_placeholder_left_from_env_example(variable, named):
    placeholder = env_example()[variable]
    assert placeholder.startswith("change-me")
    env = service_environment("web", {**production_dotenv(), variable: placeholder})

    result = run_manage("check", env=env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr
    assert "placeholder of .env.example" in result.stderr


def test_production_settings_refuse_a_placeholder_in_a_secret_file(tmp_path):
    secret_file = tmp_path / "vault-secret-id"
    secret_file.write_text("change-me-vault-secret-id\n")
    env = {**production_env(), "VAULT_SECRET_ID_FILE": str(secret_file)}

    result = run_manage("check", env=env)

    assert result.returncode != 0
    assert "VAULT_SECRET_ID still holds the placeholder" in result.stderr


def test_production_settings_accept_the_example_filled_in():
    result = run_manage("check", env=production_env())

    assert result.returncode == 0, result.stderr
