"""Sign-out ends the portal session and the provider's; front-channel sign-out ends the matching session."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client

from portal.accounts.models import SignInSession
from tests.support.sign_in import sign_in, sign_in_with_token, signed_in_user_id

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_sign_out_ends_the_session_and_goes_to_the_providers_end_session_endpoint(client, stack):
    sign_in(client, "alice")

    response = client.post("/oidc/logout/")

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{stack.issuer}/oauth2/end_session"
    query = parse_qs(target.query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/login/"]
    assert query["client_id"] == [settings.OIDC_RP_CLIENT_ID]
    assert signed_in_user_id(client) is None


def test_sign_out_by_get_is_not_allowed(client, stack):
    sign_in(client, "alice")

    assert client.get("/oidc/logout/").status_code == 405
    assert signed_in_user_id(client) is not None


def _sign_in_with_sid(client, provider, sid):
    return sign_in_with_token(
        client, provider, lambda nonce: provider.sign(provider.claims("bob", nonce=nonce, sid=sid))
    )


def test_front_channel_sign_out_ends_only_the_sessions_of_that_provider_session(fake_provider):
    laptop, phone = Client(), Client()
    _sign_in_with_sid(laptop, fake_provider, "sid-laptop")
    _sign_in_with_sid(phone, fake_provider, "sid-phone")
    assert signed_in_user_id(laptop) and signed_in_user_id(phone)

    response = Client().get("/logout/front-channel/", {"iss": fake_provider.issuer, "sid": "sid-laptop"})

    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    assert f"frame-ancestors {fake_provider.issuer}" in response["Content-Security-Policy"]
    assert laptop.get("/").status_code == 302
    assert phone.get("/").status_code == 200
    assert list(SignInSession.objects.values_list("sid", flat=True)) == ["sid-phone"]


def test_front_channel_sign_out_from_another_issuer_ends_nothing(fake_provider):
    laptop = Client()
    _sign_in_with_sid(laptop, fake_provider, "sid-laptop")

    response = Client().get("/logout/front-channel/", {"iss": "https://elsewhere.example", "sid": "sid-laptop"})

    assert response.status_code == 400
    assert laptop.get("/").status_code == 200


def test_front_channel_sign_out_without_sid_ends_nothing(client, fake_provider):
    _sign_in_with_sid(client, fake_provider, "sid-laptop")

    assert client.get("/logout/front-channel/").status_code == 400
    assert client.get("/").status_code == 200


def test_signing_out_forgets_the_provider_session(client, fake_provider):
    _sign_in_with_sid(client, fake_provider, "sid-laptop")

    client.post("/oidc/logout/")

    assert not SignInSession.objects.exists()


def test_the_session_cookie_is_http_only_and_same_site_lax(client, stack):
    sign_in(client, "alice")

    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == settings.SESSION_COOKIE_AGE
