"""Writes of the accounts app: a person's sign-in and the end of their sessions."""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from portal.accounts.models import Profile, SignInSession
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
    tid, oid = claims["tid"], claims["oid"]
    upn = claims.get("preferred_username") or claims.get("upn") or ""
    name = claims.get("name") or ""
    email = claims.get("email") or ""
    is_admin = _is_admin(groups=groups, app_roles=app_roles)
    fields = {
        "upn": upn[:255],
        "display_name": name[:255],
        "email": email[:255],
        "groups": sorted(set(groups)),
        "app_roles": sorted(set(app_roles)),
        "groups_read_at": now(),
    }
    user_model = get_user_model()
    for _ in range(2):
        try:
            with transaction.atomic():
                profile = Profile.objects.select_for_update().select_related("user").filter(tid=tid, oid=oid).first()
                if profile is None:
                    user = user_model.objects.create_user(username=f"{tid}.{oid}", password=None)
                    profile = Profile(user=user, tid=tid, oid=oid)
                user = profile.user
                user.first_name = name[:150]
                user.email = email[:254]
                user.is_staff = user.is_superuser = is_admin
                user.save(update_fields=["first_name", "email", "is_staff", "is_superuser"])
                for field, value in fields.items():
                    setattr(profile, field, value)
                profile.save()
                return user
        except IntegrityError:
            # Two first sign-ins of the same person at once: the other one created the
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
