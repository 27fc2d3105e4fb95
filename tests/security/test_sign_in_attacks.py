"""Sign-in attacks with the test provider's key: each one ends on a refusal with no session and nobody created."""

import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from portal.access.models import AccessRequest
from portal.accounts.models import Profile
from portal.devstack import tenant
from tests.api_auth.test_bearer_tokens import REFUSED_TOKENS
from tests.security.conftest import WHY
from tests.support.entra import bearer
from tests.support.sign_in import CALLBACK, authorize_at_provider, sign_in_with_token, start_sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

FOREIGN_TENANT = "f0000000-0000-4000-8000-00000000000f"


def _hs256_with_the_public_key(provider, claims: dict) -> str:
    """Sign with HMAC keyed by the provider's public key: a verifier that trusts `alg` would accept it."""
    public_pem = provider.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": provider.kid}
    parts = [json.dumps(part, separators=(",", ":")).encode() for part in (header, claims)]
    signing_input = b".".join(jwt.utils.base64url_encode(part) for part in parts)
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()


def _forged_groups(provider, nonce: str) -> str:
    header, _, signature = provider.sign(provider.claims("erin", nonce=nonce)).split(".")
    claims = provider.claims("erin", nonce=nonce, groups=[tenant.GROUPS["portal-admins"]])
    return f"{header}.{jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()}.{signature}"


ID_TOKEN_ATTACKS = {
    "forged_payload": _forged_groups,
    "expired": lambda p, nonce: p.sign(
        p.claims("alice", nonce=nonce, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)
    ),
    "wrong_tenant": lambda p, nonce: p.sign(p.claims("alice", nonce=nonce, tid=FOREIGN_TENANT)),
    "wrong_audience": lambda p, nonce: p.sign(p.claims("alice", nonce=nonce, aud="another-application")),
    "wrong_issuer": lambda p, nonce: p.sign(p.claims("alice", nonce=nonce, iss="https://login.example/evil")),
    "alg_none": lambda p, nonce: jwt.encode(p.claims("alice", nonce=nonce), None, algorithm="none"),
    "key_confusion_hs256_with_the_public_key": lambda p, nonce: _hs256_with_the_public_key(
        p, p.claims("alice", nonce=nonce)
    ),
    "unpublished_key_with_a_known_kid": lambda p, nonce: p.sign(
        p.claims("alice", nonce=nonce), key=rsa.generate_private_key(65537, 2048)
    ),
    "another_sign_ins_nonce": lambda p, nonce: p.sign(p.claims("alice", nonce="x" + nonce)),
}


@pytest.mark.parametrize("attack", sorted(ID_TOKEN_ATTACKS))
def test_a_hostile_id_token_is_refused_with_no_session_and_nobody_created(fake_provider, attack):  # noqa: F811
    client = Client()

    response = sign_in_with_token(client, fake_provider, lambda nonce: ID_TOKEN_ATTACKS[attack](fake_provider, nonce))

    assert response.status_code in (401, 403), response.status_code
    assert "accounts/refused.html" in [template.name for template in response.templates]
    assert client.session.get("_auth_user_id") is None
    assert not Profile.objects.exists()


def test_the_same_provider_and_key_sign_in_a_genuine_token(fake_provider):  # noqa: F811
    client = Client()

    response = sign_in_with_token(
        client, fake_provider, lambda nonce: fake_provider.sign(fake_provider.claims("alice", nonce=nonce))
    )

    assert response.status_code == 302
    assert client.session.get("_auth_user_id") is not None


def test_a_replayed_state_is_refused(stack):
    client = Client()
    callback = authorize_at_provider(start_sign_in(client)["url"], "alice")
    assert client.get(CALLBACK, callback).status_code == 302

    replay = client.get(CALLBACK, callback)

    assert replay.status_code == 401
    assert client.session.get("_auth_user_id") is None


def test_a_replayed_code_with_a_fresh_state_is_refused(stack):
    client = Client()
    used = authorize_at_provider(start_sign_in(client)["url"], "alice")
    client.get(CALLBACK, used)
    client.logout()
    fresh = start_sign_in(client)

    replay = client.get(CALLBACK, {"code": used["code"], "state": fresh["state"]})

    assert replay.status_code == 401
    assert client.session.get("_auth_user_id") is None


@pytest.mark.parametrize("case", sorted(REFUSED_TOKENS))
def test_a_hostile_bearer_token_cannot_create_a_request(token_issuer, catalog, case):  # noqa: F811
    response = Client().post(
        "/api/v1/requests",
        {"role": "analytics-readonly", "justification": WHY},
        content_type="application/json",
        **bearer(REFUSED_TOKENS[case](token_issuer)),
    )

    assert response.status_code == 401
    assert not AccessRequest.objects.exists()
    assert not Profile.objects.exists()
