from django.contrib import admin, messages

from portal.access.catalog import catalog_check, catalog_role_save
from portal.access.models import AccessRequest, AccessRole, AuditEvent
from portal.core.admin import ReadOnlyAdmin
from portal.integrations.vault import VaultUnavailable


@admin.register(AccessRole)
class AccessRoleAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "name",
        "vault_mount",
        "vault_role",
        "approvals_required",
        "max_duration_minutes",
        "enabled",
        "vault_role_missing",
    ]
    list_filter = ["enabled", "vault_role_missing", "ticket_required"]
    search_fields = ["slug", "name", "vault_role"]
    readonly_fields = ["vault_role_missing"]
    actions = ["check_against_vault"]

    def save_model(self, request, obj, form, change):
        # Through the catalog's one writer, which audits each field's value before and after.
        catalog_role_save(role=obj, actor=request.user, http_request=request)

    def has_delete_permission(self, request, obj=None):
        # Roles are disabled, never deleted: their requests and history stay.
        return False

    @admin.action(description="Check the catalog against Vault")
    def check_against_vault(self, request, queryset):
        try:
            result = catalog_check(actor=request.user)
        except VaultUnavailable as error:
            self.message_user(request, f"Vault is unavailable: {error}", messages.ERROR)
            return
        if result.missing:
            self.message_user(request, f"No Vault role for: {', '.join(result.missing)}.", messages.WARNING)
        else:
            self.message_user(request, "Every catalog role exists in Vault.")


@admin.register(AccessRequest)
class AccessRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "role", "requester", "state", "duration_minutes", "starts_at", "ends_at", "created_at"]
    list_filter = ["state", "role"]
    search_fields = ["requester__username", "justification", "ticket"]
    exclude = ["wrapped_secret"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "at", "actor_label", "action", "request", "role", "ip"]
    list_filter = ["action"]
    search_fields = ["actor_label", "action"]
