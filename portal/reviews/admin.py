"""Access reviews in the Django admin: to read only; every change goes through the services and the audit trail."""

from django.contrib import admin, messages

from portal.core.admin import ReadOnlyAdmin
from portal.core.errors import DomainError
from portal.reviews import services
from portal.reviews.models import Campaign, ReviewItem, ReviewSchedule, RoleExclusion


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ["id", "role", "state", "due_at", "when_overdue", "started_at", "started_by"]
    list_filter = ["state", "when_overdue"]


@admin.register(ReviewItem)
class ReviewItemAdmin(ReadOnlyAdmin):
    list_display = ["id", "campaign", "role", "upn", "decision", "decided_by", "decided_at"]
    list_filter = ["decision", "role"]
    search_fields = ["upn", "oid"]


@admin.register(ReviewSchedule)
class ReviewScheduleAdmin(ReadOnlyAdmin):
    list_display = ["role", "every_days", "due_in_days", "when_overdue", "next_run_at", "enabled"]


@admin.register(RoleExclusion)
class RoleExclusionAdmin(ReadOnlyAdmin):
    list_display = ["role", "oid", "item", "created_at"]
    actions = ["lift"]

    @admin.action(description="Let these people request the role again")
    def lift(self, request, queryset):
        lifted = 0
        for exclusion in list(queryset):
            try:
                services.exclusion_lift(actor=request.user, exclusion_id=exclusion.pk, http_request=request)
            except DomainError as error:
                self.message_user(request, error.detail, messages.ERROR)
                return
            lifted += 1
        self.message_user(request, f"{lifted} removal(s) lifted.")
