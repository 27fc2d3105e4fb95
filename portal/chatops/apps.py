from django.apps import AppConfig


class ChatOpsConfig(AppConfig):
    name = "portal.chatops"
    label = "chatops"
    verbose_name = "Decisions from chat"
