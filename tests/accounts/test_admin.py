"""The Django admin is open to portal admins only, and admin power is never set by hand."""

import pytest

from tests.support.sign_in import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_carol_a_portal_admin_opens_the_admin(client, stack):
    sign_in(client, "carol")

    assert client.get("/admin/").status_code == 200


def test_alice_who_is_no_portal_admin_is_kept_out_of_the_admin(client, stack):
    sign_in(client, "alice")

    response = client.get("/admin/", follow=True)

    assert response.status_code == 403


def test_an_anonymous_visitor_of_the_admin_is_sent_to_the_entra_sign_in(client):
    response = client.get("/admin/", follow=True)

    assert response.redirect_chain[-1][0].startswith("/login/?next=")
    assert "Sign in with Microsoft" in response.content.decode()


def test_the_admin_does_not_let_carol_grant_admin_power_by_hand(client, stack, django_user_model):
    sign_in(client, "carol")
    sign_in(client, "alice")
    sign_in(client, "carol")
    alice = django_user_model.objects.get(profile__upn="alice@contoso.example")

    page = client.get(f"/admin/auth/user/{alice.pk}/change/").content.decode()

    assert 'name="is_superuser"' not in page
    assert 'name="is_staff"' not in page
