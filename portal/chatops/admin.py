from django.contrib import admin

from portal.access.admin import ReadOnlyAdmin
from portal.chatops.models import SlackInteraction


@admin.register(SlackInteraction)
class SlackInteractionAdmin(ReadOnlyAdmin):
    list_display = ["id", "received_at", "slack_user_id", "actor", "request", "action", "outcome", "answered_at"]
    list_filter = ["outcome", "action"]
    exclude = ["response_url", "signature_hash"]
