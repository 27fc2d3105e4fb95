"""Writes of the accounts app: a person's sign-in and the end of their sessions."""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from portal.access.audit import NEW_PERSON_FLAGS, audit_person_flags, person_flags
from portal.accounts.errors import TokenRefused
from portal.accounts.models import Profile, SignInSession
from portal.accounts.tokens import application_id, is_application_token
from portal.core.clock import now


def _is_admin(*, groups: list[str], app_roles: list[str]) -> bool:
    return bool(
        set(groups) & set(settings.PORTAL_ADMIN_GROUPS) or set(app_roles) & set(settings.PORTAL_ADMIN_APP_ROLES)
    )


def profile_sign_in(*, claims: dict, groups: list[str], app_roles: list[str]):
    """Create or update the user of verified ID token `claims` with fresh memberships; return the user.

    The user is found by tenant and object ID only; the display fields may change or
    be missing. Django's staff and superuser flags follow the portal admin groups and
    app roles at every sign-in, so nobody is admin by a hand-set flag.
    """
    upn = claims.get("preferred_username") or claims.get("upn") or ""
    return _profile_update(
        tid=claims["tid"],
        oid=claims["oid"],
        is_application=False,
        fields={
            "upn": upn,
            "display_name": claims.get("name") or "",
            "email": claims.get("email") or "",
            "groups": groups,
            "app_roles": app_roles,
        },
    )


def profile_from_access_token(*, claims: dict, groups: list[str], app_roles: list[str]):
    """Create or update the user (person or application) of verified access token `claims`; return the user.

    An application is an identity of its own, keyed by its service principal's object ID
    (or its client ID when the token carries none). It is named as the application in the
    history, and it has app roles only: group memberships never make it eligible or an approver.
    """
    if not is_application_token(claims):
        return _profile_update(
            tid=claims["tid"],
            oid=claims["oid"],
            is_application=False,
            fields={
                "upn": claims.get("preferred_username") or claims.get("upn") or claims.get("unique_name") or "",
                "display_name": claims.get("name") or "",
                "email": claims.get("email") or "",
                "groups": groups,
                "app_roles": app_roles,
            },
        )
    client_id = application_id(claims)
    name = claims.get("app_displayname") or client_id
    return _profile_update(
        tid=claims["tid"],
        oid=claims.get("oid") or client_id,
        is_application=True,
        fields={
            "upn": f"app:{name}",
            "display_name": f"Application {name}",
            "email": "",
            "groups": [],
            "app_roles": app_roles,
        },
    )


def _profile_update(*, tid: str, oid: str, is_application: bool, fields: dict):
    is_admin = _is_admin(groups=fields["groups"], app_roles=fields["app_roles"])
    name = fields["display_name"][:255]
    email = fields["email"][:255]
    values = {
        "upn": fields["upn"][:255],
        "display_name": name,
        "email": email,
        "groups": sorted(set(fields["groups"])),
        "app_roles": sorted(set(fields["app_roles"])),
        "groups_read_at": now(),
    }
    user_model = get_user_model()
    for _ in range(2):
        try:
            with transaction.atomic():
                profile = Profile.objects.select_for_update().select_related("user").filter(tid=tid, oid=oid).first()
                before = NEW_PERSON_FLAGS if profile is None else person_flags(profile.user, profile=profile)
                if profile is None:
                    user = user_model.objects.create_user(username=f"{tid}.{oid}", password=None)
                    profile = Profile(user=user, tid=tid, oid=oid, is_application=is_application)
                elif profile.is_application != is_application:
                    # One object ID is a person or an application, never both: a token that
                    # says otherwise is not to be trusted with the other's access.
                    raise TokenRefused(
                        "The token does not match the kind of identity (person or application) "
                        "this object ID has in the portal.",
                        reason=f"{tid}/{oid} is_application={profile.is_application}, token says {is_application}",
                    )
                user = profile.user
                user.first_name = name[:150]
                user.email = email[:254]
                # The Django admin is for people signed in with a browser, not for applications.
                user.is_staff = user.is_superuser = is_admin and not is_application
                user.save(update_fields=["first_name", "email", "is_staff", "is_superuser"])
                for field, value in values.items():
                    setattr(profile, field, value)
                profile.save()
                audit_person_flags(actor=None, person=user, profile=profile, before=before, reason="sign-in")
                return user
        except IntegrityError:
            # Two first sign-ins of the same identity at once: the other one created the
            # profile, so the second round updates it.
            continue
    raise IntegrityError(f"Could not create the profile of {tid}/{oid}.")


def sign_in_session_record(*, user, session_key: str, sid: str) -> SignInSession:
    """Remember that portal session `session_key` belongs to the provider session `sid`."""
    record, _ = SignInSession.objects.update_or_create(session_key=session_key, defaults={"user": user, "sid": sid})
    return record


def sign_in_sessions_end(*, sid: str) -> int:
    """End every portal session that came from the provider session `sid`; return how many."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    records = list(SignInSession.objects.filter(sid=sid))
    for record in records:
        store(session_key=record.session_key).delete()
    SignInSession.objects.filter(pk__in=[record.pk for record in records]).delete()
    return len(records)


def sign_in_session_forget(*, session_key: str | None) -> None:
    """Forget the provider session of a portal session that has ended."""
    if session_key:
        SignInSession.objects.filter(session_key=session_key).delete()
