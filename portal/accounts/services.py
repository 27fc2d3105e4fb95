"""Writes of the accounts app: a person's sign-in and the end of their sessions."""

from datetime import UTC, datetime
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from portal.access.audit import NEW_PERSON_FLAGS, audit_person_flags, person_flags
from portal.accounts.errors import SignInRefused, TokenRefused
from portal.accounts.models import Profile, SignInSession
from portal.accounts.tokens import application_id, is_application_token
from portal.core.clock import now
from portal.core.db import Compiled


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


# Every API call reads it (the caller's profile, by the token's tenant and object ID), so it is compiled once.
_KNOWN_PROFILE = Compiled(
    lambda tid, oid: Profile.objects.select_related("user").filter(tid=tid, oid=oid)[:1], tid=str, oid=str
)


def profile_from_access_token(*, claims: dict, groups: list[str], app_roles: list[str]):
    """Return the user (person or application) of verified access token `claims`, created on first sight.

    The token's memberships hold for this call only, fresh as of the token's `iat`: they
    are set on the returned user's profile but not saved over those of the last sign-in,
    so that an API call never makes a browser session's memberships look fresher than
    they are, nor changes the admin flags. A new identity keeps the token's memberships
    as read never (`groups_read_at` empty) until it signs in.

    An application is an identity of its own, keyed by its service principal's object ID
    (or its client ID when the token carries none). It is named as the application in the
    history, and it has app roles only: group memberships never make it eligible or an approver.
    """
    if is_application_token(claims):
        client_id = application_id(claims)
        name = claims.get("app_displayname") or client_id
        tid, oid, is_application, groups = claims["tid"], claims.get("oid") or client_id, True, []
        fields = {"upn": f"app:{name}", "display_name": f"Application {name}", "email": ""}
    else:
        tid, oid, is_application = claims["tid"], claims["oid"], False
        fields = {
            "upn": claims.get("preferred_username") or claims.get("upn") or claims.get("unique_name") or "",
            "display_name": claims.get("name") or "",
            "email": claims.get("email") or "",
        }
    user = _profile_update(
        tid=tid,
        oid=oid,
        is_application=is_application,
        fields={**fields, "groups": groups, "app_roles": app_roles},
        from_sign_in=False,
    )
    profile = user.profile
    profile.groups = sorted(set(groups))
    profile.app_roles = sorted(set(app_roles))
    profile.groups_read_at = datetime.fromtimestamp(claims["iat"], tz=UTC)
    return user


def _profile_update(*, tid: str, oid: str, is_application: bool, fields: dict, from_sign_in: bool = True):
    """Create or update the profile `tid`/`oid` with `fields`; return its user.

    A sign-in also stores the memberships, read now, and sets the admin flags from them;
    an access token only creates the profile with its memberships, or updates the names.
    """
    is_admin = _is_admin(groups=fields["groups"], app_roles=fields["app_roles"])
    name = fields["display_name"][:255]
    email = fields["email"][:255]
    names = {"upn": fields["upn"][:255], "display_name": name, "email": email}
    memberships = {
        "groups": sorted(set(fields["groups"])),
        "app_roles": sorted(set(fields["app_roles"])),
        "groups_read_at": now() if from_sign_in else None,
    }
    if not from_sign_in:
        # Most API calls come from someone already known under the same names: nothing to write, so no lock,
        # no transaction, no commit. Any difference (a new identity, a new name, a kind that does not match,
        # a deactivated account) takes the locked path below, which writes or refuses.
        known = _KNOWN_PROFILE.first(tid=tid, oid=oid)
        if known is not None and _as_known(known, names=names, is_application=is_application):
            return known.user
    user_model = get_user_model()
    for _ in range(2):
        try:
            with transaction.atomic():
                profile = Profile.objects.select_for_update().select_related("user").filter(tid=tid, oid=oid).first()
                created = profile is None
                before = NEW_PERSON_FLAGS if created else person_flags(profile.user, profile=profile)
                if created:
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
                if not user.is_active:
                    # A deactivated identity changes nothing, whether it signs in or calls the API.
                    refusal = SignInRefused if from_sign_in else TokenRefused
                    raise refusal(
                        "Your account may not use this portal.", status=403, reason=f"{tid}/{oid} is deactivated"
                    )
                user.first_name = name[:150]
                user.email = email[:254]
                update_fields = ["first_name", "email"]
                if from_sign_in:
                    # The Django admin is for people signed in with a browser, not for applications.
                    user.is_staff = user.is_superuser = is_admin and not is_application
                    update_fields += ["is_staff", "is_superuser"]
                user.save(update_fields=update_fields)
                values = {**names, **memberships} if from_sign_in or created else names
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


def _as_known(profile: Profile, *, names: dict, is_application: bool) -> bool:
    """Return whether an access token's identity matches the stored one exactly: active, same kind, same names."""
    user = profile.user
    return (
        user.is_active
        and profile.is_application == is_application
        and all(getattr(profile, field) == value for field, value in names.items())
        and user.first_name == names["display_name"][:150]
        and user.email == names["email"][:254]
    )


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
