from django.contrib import admin

from portal.breakglass.models import BreakGlassPolicy, BreakGlassUse
from portal.core.admin import ReadOnlyAdmin


@admin.register(BreakGlassPolicy)
class BreakGlassPolicyAdmin(admin.ModelAdmin):
    list_display = ["role", "allowed", "max_minutes", "uses_allowed", "window_days", "review_due_hours"]
    list_filter = ["allowed"]
    search_fields = ["role__slug", "role__name"]
    autocomplete_fields = ["role"]


@admin.register(BreakGlassUse)
class BreakGlassUseAdmin(ReadOnlyAdmin):
    list_display = ["request", "role", "requester", "incident", "activated_at", "review_state", "review_due_at"]
    list_filter = ["review_state", "role"]
    search_fields = ["incident", "requester__username"]
