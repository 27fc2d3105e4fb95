from django.apps import AppConfig


class ChatOpsConfig(AppConfig):
    name = "portal.chatops"
    label = "chatops"
    verbose_name = "Decisions from chat"

    def ready(self):
        # Register the app's Celery tasks in every process, web included: the services queue them by
        # name (`portal.core.queue`), so that a task queued in an eager test run finds its function.
        from portal.chatops import tasks  # noqa: F401
