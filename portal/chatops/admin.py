from django.contrib import admin

from portal.chatops.models import SlackInteraction
from portal.core.admin import ReadOnlyAdmin


@admin.register(SlackInteraction)
class SlackInteractionAdmin(ReadOnlyAdmin):
    list_display = ["id", "received_at", "slack_user_id", "actor", "request", "action", "outcome", "answered_at"]
    list_filter = ["outcome", "action"]
    exclude = ["response_url", "signature_hash"]
