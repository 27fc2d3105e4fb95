"""Every sign-in the portal must refuse ends on a clean refusal page, never a 500, and with no session."""

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.test import Client

from portal.accounts.models import Profile
from portal.devstack import tenant
from tests.support.sign_in import (
    CALLBACK,
    authorize_at_provider,
    sign_in,
    sign_in_with_token,
    signed_in_user_id,
    start_sign_in,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

FOREIGN_TENANT = "f0000000-0000-4000-8000-00000000000f"


def assert_refused(response, status: int, text: str, *, first_sign_in: bool = True):
    assert response.status_code == status, response.content
    assert "accounts/refused.html" in [template.name for template in response.templates]
    assert text in response.content.decode()
    assert response.wsgi_request.session.get("_auth_user_id") is None
    if first_sign_in:
        assert not Profile.objects.exists()


def test_a_valid_token_from_the_test_provider_signs_in(client, fake_provider):
    response = sign_in_with_token(
        client, fake_provider, lambda nonce: fake_provider.sign(fake_provider.claims("alice", nonce=nonce))
    )

    assert response.status_code == 302
    assert signed_in_user_id(client) is not None
    assert Profile.objects.get().oid == tenant.USERS["alice"].oid


def test_the_token_request_sends_the_pkce_verifier_of_this_sign_in(client, fake_provider):
    authorization = start_sign_in(client)
    verifier = client.session["oidc_states"][authorization["state"]]["code_verifier"]
    fake_provider.will_answer(fake_provider.sign(fake_provider.claims("alice", nonce=authorization["nonce"])))

    client.get(CALLBACK, {"code": "test-code", "state": authorization["state"]})

    (token_request,) = fake_provider.token_requests
    assert token_request["code_verifier"] == verifier
    assert token_request["grant_type"] == "authorization_code"
    assert token_request["code"] == "test-code"
    assert token_request["redirect_uri"] == "http://testserver/oidc/callback/"


def test_a_user_of_a_tenant_that_is_not_allowed_is_refused(client, fake_provider):
    response = sign_in_with_token(
        client,
        fake_provider,
        lambda nonce: fake_provider.sign(fake_provider.claims("alice", nonce=nonce, tid=FOREIGN_TENANT)),
    )

    assert_refused(response, 403, "directory is not allowed")


def test_alice_is_refused_by_the_real_provider_when_her_tenant_is_not_on_the_allow_list(client, stack, settings):
    settings.OIDC_ALLOWED_TENANTS = [FOREIGN_TENANT]

    assert_refused(sign_in(client, "alice"), 403, "directory is not allowed")


def test_a_token_for_another_application_is_refused(client, fake_provider):
    response = sign_in_with_token(
        client,
        fake_provider,
        lambda nonce: fake_provider.sign(fake_provider.claims("alice", nonce=nonce, aud="another-app")),
    )

    assert_refused(response, 401, "could not be verified")


def test_a_token_from_another_issuer_is_refused(client, fake_provider):
    response = sign_in_with_token(
        client,
        fake_provider,
        lambda nonce: fake_provider.sign(
            fake_provider.claims("alice", nonce=nonce, iss="https://login.microsoftonline.com/other/v2.0")
        ),
    )

    assert_refused(response, 401, "could not be verified")


def test_an_expired_token_is_refused_with_a_page_not_a_server_error(client, fake_provider):
    long_ago = int(time.time()) - 3600
    response = sign_in_with_token(
        client,
        fake_provider,
        lambda nonce: fake_provider.sign(
            fake_provider.claims("alice", nonce=nonce, iat=long_ago, nbf=long_ago, exp=long_ago + 300)
        ),
    )

    assert_refused(response, 401, "expired")


def test_a_token_expired_within_the_clock_leeway_is_accepted(client, fake_provider):
    just_now = int(time.time()) - settings.OIDC_LEEWAY_SECONDS // 2
    response = sign_in_with_token(
        client,
        fake_provider,
        lambda nonce: fake_provider.sign(
            fake_provider.claims("alice", nonce=nonce, iat=just_now - 300, nbf=just_now - 300, exp=just_now)
        ),
    )

    assert response.status_code == 302
    assert signed_in_user_id(client) is not None


def test_a_token_not_yet_valid_is_refused(client, fake_provider):
    later = int(time.time()) + 3600
    response = sign_in_with_token(
        client,
        fake_provider,
        lambda nonce: fake_provider.sign(fake_provider.claims("alice", nonce=nonce, nbf=later)),
    )

    assert_refused(response, 401, "could not be verified")


def test_a_token_with_a_tampered_payload_is_refused(client, fake_provider):
    def tampered(nonce):
        header, _, signature = fake_provider.sign(fake_provider.claims("erin", nonce=nonce)).split(".")
        claims = fake_provider.claims("erin", nonce=nonce, groups=[tenant.GROUPS["portal-admins"]])
        forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
        return f"{header}.{forged}.{signature}"

    assert_refused(sign_in_with_token(client, fake_provider, tampered), 401, "could not be verified")


def test_a_token_signed_by_a_key_the_provider_does_not_publish_is_refused(client, fake_provider):
    other_key = rsa.generate_private_key(65537, 2048)
    response = sign_in_with_token(
        client,
        fake_provider,
        lambda nonce: fake_provider.sign(fake_provider.claims("alice", nonce=nonce), key=other_key),
    )

    assert_refused(response, 401, "could not be verified")


def test_an_unsigned_token_with_alg_none_is_refused(client, fake_provider):
    response = sign_in_with_token(
        client,
        fake_provider,
        lambda nonce: jwt.encode(fake_provider.claims("alice", nonce=nonce), key=None, algorithm="none"),
    )

    assert_refused(response, 401, "could not be verified")


def test_an_hs256_token_signed_with_the_client_secret_is_refused(client, fake_provider):
    response = sign_in_with_token(
        client,
        fake_provider,
        lambda nonce: jwt.encode(
            fake_provider.claims("alice", nonce=nonce), settings.OIDC_RP_CLIENT_SECRET, algorithm="HS256"
        ),
    )

    assert_refused(response, 401, "could not be verified")


def test_a_token_with_another_nonce_is_refused(client, fake_provider):
    response = sign_in_with_token(
        client,
        fake_provider,
        lambda nonce: fake_provider.sign(fake_provider.claims("alice", nonce="not-" + nonce)),
    )

    assert_refused(response, 401, "could not be verified")


def test_a_token_without_a_nonce_is_refused(client, fake_provider):
    response = sign_in_with_token(
        client, fake_provider, lambda nonce: fake_provider.sign(fake_provider.claims("alice", nonce=None))
    )

    assert_refused(response, 401, "could not be verified")


def test_a_token_without_an_object_id_is_refused(client, fake_provider):
    response = sign_in_with_token(
        client, fake_provider, lambda nonce: fake_provider.sign(fake_provider.claims("alice", nonce=nonce, oid=None))
    )

    assert_refused(response, 401, "no object ID")


def test_a_callback_replayed_with_a_used_state_is_refused_and_ends_the_session(client, stack):
    authorization = start_sign_in(client)
    callback = authorize_at_provider(authorization["url"], "alice")
    assert client.get(CALLBACK, callback).status_code == 302

    response = client.get(CALLBACK, callback)

    assert_refused(response, 401, "already used", first_sign_in=False)
    assert signed_in_user_id(client) is None


def test_a_callback_in_another_browser_is_refused(client, stack):
    authorization = start_sign_in(client)
    callback = authorize_at_provider(authorization["url"], "alice")

    assert_refused(Client().get(CALLBACK, callback), 401, "already used")


def test_a_callback_without_code_is_refused(client, stack):
    authorization = start_sign_in(client)

    assert_refused(client.get(CALLBACK, {"state": authorization["state"]}), 400, "incomplete")


def test_a_denial_at_the_provider_is_refused_with_a_page(client, stack):
    authorization = start_sign_in(client)

    response = client.get(CALLBACK, {"error": "access_denied", "state": authorization["state"]})

    assert_refused(response, 403, "did not sign you in")


def test_an_unreachable_provider_is_a_clean_503_page(client, settings):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"

    response = client.get("/oidc/authenticate/")

    assert response.status_code == 503
    assert "could not be reached" in response.content.decode()


def test_an_authorization_code_used_twice_is_refused_by_the_provider_and_then_by_the_portal(client, stack):
    first = start_sign_in(client)
    used = authorize_at_provider(first["url"], "alice")
    client.get(CALLBACK, used)
    client.logout()
    second = start_sign_in(client)

    response = client.get(CALLBACK, {"code": used["code"], "state": second["state"]})

    assert_refused(response, 401, "did not accept this sign-in", first_sign_in=False)


def test_a_discovery_document_naming_another_issuer_is_not_used(client, fake_provider, settings):
    settings.OIDC_ISSUER = fake_provider.issuer.replace("127.0.0.1", "localhost")

    response = client.get("/oidc/authenticate/")

    assert response.status_code == 503
    assert "could not be reached" in response.content.decode()
