"""The full authorization code flow against the real demo provider, for every demo user."""

import base64
import hashlib

import pytest
from django.contrib.auth import get_user_model

from portal.accounts.models import Profile
from portal.devstack import tenant
from tests.support.sign_in import authorize_at_provider, sign_in, signed_in_user_id, start_sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.mark.parametrize("name", sorted(tenant.USERS))
def test_each_demo_user_signs_in_and_the_profile_holds_their_oid_tid_and_groups(client, stack, name):
    persona = tenant.USERS[name]

    response = sign_in(client, name)

    assert response.status_code == 302
    assert response["Location"] == "/"
    profile = Profile.objects.get(oid=persona.oid)
    assert profile.tid == tenant.TENANT_ID
    assert profile.groups == sorted(persona.group_ids)
    assert profile.upn == persona.upn
    assert profile.display_name == persona.display_name
    assert profile.groups_read_at is not None
    assert signed_in_user_id(client) == str(profile.user_id)


def test_the_sign_in_request_carries_state_nonce_and_an_s256_pkce_challenge_of_the_stored_verifier(client, stack):
    authorization = start_sign_in(client)

    assert authorization["url"].startswith(f"{stack.issuer}/oauth2/authorize?")
    assert authorization["response_type"] == "code"
    assert authorization["scope"].split()[:3] == ["openid", "profile", "email"]
    assert authorization["code_challenge_method"] == "S256"
    pending = client.session["oidc_states"][authorization["state"]]
    assert pending["nonce"] == authorization["nonce"]
    verifier = pending["code_verifier"]
    assert 43 <= len(verifier) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert authorization["code_challenge"] == expected


def test_signing_in_twice_keeps_one_user_keyed_on_tenant_and_object_id(client, stack):
    sign_in(client, "alice")
    client.logout()
    sign_in(client, "alice")

    assert Profile.objects.filter(oid=tenant.USERS["alice"].oid).count() == 1
    assert get_user_model().objects.filter(profile__oid=tenant.USERS["alice"].oid).count() == 1


def test_two_users_without_email_can_both_sign_in(client, stack, provider_user):
    provider_user("dave", email=None)
    provider_user("erin", email=None)

    sign_in(client, "dave")
    client.logout()
    sign_in(client, "erin")

    assert Profile.objects.get(oid=tenant.USERS["dave"].oid).email == ""
    assert Profile.objects.get(oid=tenant.USERS["erin"].oid).email == ""
    assert signed_in_user_id(client) == str(Profile.objects.get(oid=tenant.USERS["erin"].oid).user_id)


def test_a_user_whose_groups_change_in_the_provider_sees_the_change_after_signing_in_again(
    client, stack, provider_user
):
    sign_in(client, "bob")
    assert Profile.objects.get(oid=tenant.USERS["bob"].oid).groups == sorted(tenant.USERS["bob"].group_ids)

    provider_user("bob", groups=[tenant.GROUPS["dba"]])
    client.logout()
    sign_in(client, "bob")

    assert Profile.objects.get(oid=tenant.USERS["bob"].oid).groups == [tenant.GROUPS["dba"]]


def test_carol_becomes_staff_and_superuser_through_the_portal_admins_group_and_alice_does_not(client, stack):
    sign_in(client, "carol")
    sign_in(client, "alice")

    carol = get_user_model().objects.get(profile__oid=tenant.USERS["carol"].oid)
    alice = get_user_model().objects.get(profile__oid=tenant.USERS["alice"].oid)
    assert carol.is_staff and carol.is_superuser
    assert not alice.is_staff and not alice.is_superuser


def test_admin_power_is_taken_away_at_the_next_sign_in_when_the_group_is_removed(client, stack, provider_user):
    sign_in(client, "carol")
    provider_user("carol", groups=[tenant.GROUPS["orders-approvers"]])
    client.logout()
    sign_in(client, "carol")

    carol = get_user_model().objects.get(profile__oid=tenant.USERS["carol"].oid)
    assert not carol.is_staff and not carol.is_superuser


def test_the_sign_in_returns_to_the_page_that_asked_for_it(client, stack):
    authorization = start_sign_in(client, next_url="/admin/")
    response = client.get("/oidc/callback/", authorize_at_provider(authorization["url"], "alice"))

    assert response["Location"] == "/admin/"


def test_the_header_shows_who_is_signed_in_and_a_sign_out_button(client, stack):
    sign_in(client, "alice")

    page = client.get("/").content.decode()

    assert "Alice" in page
    assert 'action="/oidc/logout/"' in page
    assert "Sign out" in page
