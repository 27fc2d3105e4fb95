from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction

from portal.access.audit import audit_person_flags, stored_person_flags
from portal.accounts.models import Profile
from portal.accounts.selectors import memberships_are_fresh


def _admin_login(request, extra_context=None):
    """Send people to the Entra sign-in: portal users have no password, and non-admins may not enter."""
    if request.user.is_authenticated:
        raise PermissionDenied(
            "The admin is open to portal admins only, with memberships read recently: sign in again."
        )
    return redirect_to_login(request.GET.get("next") or request.path, settings.LOGIN_URL)


def _admin_has_permission(request) -> bool:
    """Open the admin to active staff whose memberships were read recently, as approvals require."""
    user = request.user
    return user.is_active and user.is_staff and memberships_are_fresh(user)


admin.site.login = _admin_login
admin.site.has_permission = _admin_has_permission


class AuditedPersonAdmin(admin.ModelAdmin):
    """Write every change of who may sign in (or is admin, or an application) to the audit trail."""

    def has_delete_permission(self, request, obj=None):
        # People are deactivated, never deleted: their requests and history name them.
        return False

    def person_of(self, obj):
        """Return the person `obj` is about, and their profile when `obj` is one (else None)."""
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        person, profile = self.person_of(obj)
        with transaction.atomic():
            before = stored_person_flags(person.pk)
            super().save_model(request, obj, form, change)
            audit_person_flags(
                actor=request.user, person=person, profile=profile, before=before, reason="admin", http_request=request
            )


@admin.register(Profile)
class ProfileAdmin(AuditedPersonAdmin):
    list_display = ["upn", "display_name", "tid", "oid", "groups_read_at"]
    search_fields = ["upn", "display_name", "oid"]
    # Memberships come from Entra ID at sign-in; editing them here would grant powers by hand.
    readonly_fields = [
        "user",
        "tid",
        "oid",
        "upn",
        "display_name",
        "email",
        "groups",
        "app_roles",
        "groups_read_at",
    ]

    def has_add_permission(self, request):
        return False

    def person_of(self, obj):
        return obj.user, obj


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class PortalUserAdmin(AuditedPersonAdmin, UserAdmin):
    # Admin power follows the portal admin groups at every sign-in, never a hand-set flag.
    readonly_fields = ["is_staff", "is_superuser", "groups", "user_permissions", "last_login", "date_joined"]

    def person_of(self, obj):
        return obj, None
