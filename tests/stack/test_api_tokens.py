"""The demo gives JWT access tokens for the portal's API, and the portal verifies them as it verifies Entra's."""

import json
import subprocess
import sys
import urllib.request

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from portal.accounts import oidc
from portal.devstack import tenant

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _fresh_key_cache():
    oidc.clear_cache()
    yield
    oidc.clear_cache()


def demo_token(stack, *args: str) -> subprocess.CompletedProcess:
    """Run `python -m portal.devstack token ARGS` for the test stack, as a person who ran `make demo` would."""
    return subprocess.run(
        [sys.executable, "-m", "portal.devstack", "token", *args, "--state-dir", str(stack.state_dir)]
        + ["--issuer", stack.issuer],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def me(client, token: str):
    return client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_the_provider_publishes_the_api_key_besides_its_own(stack):
    token = demo_token(stack, "alice").stdout.strip()
    with urllib.request.urlopen(f"{stack.issuer}/jwks", timeout=5) as response:
        kids = [key["kid"] for key in json.load(response)["keys"]]

    assert jwt.get_unverified_header(token)["kid"] in kids
    assert len(kids) == 2, "the provider's own ID token key is still there"
    assert oct((stack.state_dir / "secrets" / "api-signing-key.pem").stat().st_mode & 0o777) == "0o600"


def test_a_persons_token_is_a_delegated_entra_v2_access_token_the_portal_accepts(stack, client):
    result = demo_token(stack, "alice")
    claims = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    answer = me(client, result.stdout.strip())

    assert result.returncode == 0, result.stderr
    alice = tenant.USERS["alice"]
    assert claims["scp"] == "access_as_user" and claims["idtyp"] == "user" and "roles" not in claims
    assert (claims["oid"], claims["tid"], claims["upn"]) == (alice.oid, tenant.TENANT_ID, alice.upn)
    assert claims["groups"] == alice.group_ids
    assert claims["azp"] == tenant.CLI_CLIENT_ID and claims["ver"] == "2.0"
    assert claims["iss"] == stack.issuer and claims["aud"] == "latchkey-portal"
    assert answer.status_code == 200, answer.content
    assert answer.json()["oid"] == alice.oid and answer.json()["is_application"] is False
    assert sorted(answer.json()["groups"]) == sorted(alice.group_ids)


def test_the_ci_applications_token_carries_its_app_role_and_is_an_application(stack, client):
    result = demo_token(stack, "orders-deploy", "--app")
    claims = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    answer = me(client, result.stdout.strip())

    app = tenant.APPLICATIONS["orders-deploy"]
    assert result.returncode == 0, result.stderr
    assert claims["idtyp"] == "app" and "scp" not in claims
    assert claims["roles"] == ["latchkey.api", "latchkey.orders-migrate"]
    assert claims["azp"] == app.client_id and claims["oid"] == claims["sub"] == app.oid
    assert answer.status_code == 200, answer.content
    assert answer.json()["is_application"] is True


def test_a_token_signed_with_another_key_is_refused(stack, client):
    claims = jwt.decode(demo_token(stack, "carol").stdout.strip(), options={"verify_signature": False})
    forged = jwt.encode(claims, rsa.generate_private_key(65537, 2048), algorithm="RS256", headers={"kid": "other"})

    assert me(client, forged).status_code == 401


def test_an_unknown_name_or_a_stack_never_started_gets_a_clear_message(stack, tmp_path):
    unknown = demo_token(stack, "mallory")
    never_started = subprocess.run(
        [sys.executable, "-m", "portal.devstack", "token", "alice", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert unknown.returncode == 2 and "alice, bob" in unknown.stderr and not unknown.stdout
    assert never_started.returncode == 1 and "make demo" in never_started.stderr and not never_started.stdout
