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


# ----- admin power is audited: the catalog and the flags of people -----


@pytest.fixture
def catalog(db):
    """Load the demo catalog."""
    from pathlib import Path

    from portal.access.catalog import catalog_import

    demo = Path(__file__).resolve().parents[2] / "portal" / "access" / "demo_catalog.yaml"
    catalog_import(demo.read_text(), source=str(demo))


def _signed_in_admin(client, django_user_model, *others):
    """Sign carol (a portal admin) in last, after each of `others`; return carol and the others' users."""
    for name in others:
        sign_in(client, name)
    sign_in(client, "carol")
    users = [django_user_model.objects.get(profile__upn=f"{name}@contoso.example") for name in ("carol", *others)]
    return users


def _role_form(role, **changes) -> dict:
    """Return the admin change form of `role` as the browser posts it, with `changes` made."""
    import json

    from portal.access.catalog import FIELDS

    values = {name: getattr(role, name) for name in FIELDS} | changes
    form = {"_save": "Save"}
    for name, value in values.items():
        if isinstance(value, bool):
            if value:
                form[name] = "on"
        elif isinstance(value, list | dict):
            form[name] = json.dumps(value)
        else:
            form[name] = "" if value is None else str(value)
    return form


def test_a_role_changed_in_the_admin_is_audited_field_by_field(client, stack, django_user_model, catalog):
    from portal.access.models import AccessRole, AuditEvent

    (carol,) = _signed_in_admin(client, django_user_model)
    role = AccessRole.objects.get(slug="orders-admin")

    response = client.post(
        f"/admin/access/accessrole/{role.pk}/change/",
        _role_form(role, max_duration_minutes=30, default_duration_minutes=15, enabled=False),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="catalog.role_updated", role=role)
    assert (event.actor, event.ip) == (carol, "127.0.0.1")
    assert event.details["changes"] == {
        "max_duration_minutes": {"before": 60, "after": 30},
        "default_duration_minutes": {"before": 30, "after": 15},
        "enabled": {"before": True, "after": False},
    }


def test_a_role_added_in_the_admin_is_audited_and_none_is_deleted(client, stack, django_user_model, catalog):
    from portal.access.models import AccessRole, AuditEvent

    _signed_in_admin(client, django_user_model)
    form = _role_form(AccessRole(slug="billing-ro", name="Billing", vault_role="billing", approvals_required=0))

    response = client.post("/admin/access/accessrole/add/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    role = AccessRole.objects.get(slug="billing-ro")
    changes = AuditEvent.objects.get(action="catalog.role_created", role=role).details["changes"]
    assert changes["vault_role"] == {"before": None, "after": "billing"}
    assert client.post(f"/admin/access/accessrole/{role.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AccessRole.objects.filter(pk=role.pk).exists()


def test_deactivating_a_person_in_the_admin_is_audited(client, stack, django_user_model):
    from portal.access.models import AuditEvent

    carol, alice = _signed_in_admin(client, django_user_model, "alice")

    response = client.post(
        f"/admin/auth/user/{alice.pk}/change/",
        {"username": alice.username, "first_name": alice.first_name, "email": alice.email, "_save": "Save"},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    alice.refresh_from_db()
    assert not alice.is_active
    event = AuditEvent.objects.get(action="account.flags_changed", details__person="alice@contoso.example")
    assert event.actor == carol
    assert event.details["changes"] == {"is_active": {"before": True, "after": False}}
    assert event.details["oid"] == alice.profile.oid


def test_making_a_person_an_application_in_the_admin_is_audited(client, stack, django_user_model):
    from portal.access.models import AuditEvent

    carol, alice = _signed_in_admin(client, django_user_model, "alice")

    response = client.post(f"/admin/accounts/profile/{alice.profile.pk}/change/", {"is_application": "on"})

    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="account.flags_changed", details__person="alice@contoso.example")
    assert event.actor == carol
    assert event.details["changes"] == {"is_application": {"before": False, "after": True}}


def test_admin_power_given_and_taken_at_sign_in_is_audited(client, stack, django_user_model, provider_user):
    from portal.access.models import AuditEvent
    from portal.devstack import tenant

    sign_in(client, "carol")
    given = AuditEvent.objects.get(action="account.flags_changed", details__person="carol@contoso.example")
    provider_user("carol", groups=[tenant.GROUPS["orders-approvers"]])
    sign_in(client, "carol")

    taken = AuditEvent.objects.filter(action="account.flags_changed").exclude(pk=given.pk).get()
    assert given.actor_label == taken.actor_label == "system"
    assert given.details["changes"] == {
        "is_staff": {"before": False, "after": True},
        "is_superuser": {"before": False, "after": True},
    }
    assert taken.details["changes"] == {
        "is_staff": {"before": True, "after": False},
        "is_superuser": {"before": True, "after": False},
    }
    sign_in(client, "carol")
    assert AuditEvent.objects.filter(action="account.flags_changed").count() == 2
