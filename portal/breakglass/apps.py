from django.apps import AppConfig


class BreakGlassConfig(AppConfig):
    name = "portal.breakglass"
    label = "breakglass"
    verbose_name = "Break-glass access"

    def ready(self):
        # Register the app's Celery tasks in every process, web included: the services queue them by
        # name (`portal.core.queue`), so that a task queued in an eager test run finds its function.
        from portal.breakglass import tasks  # noqa: F401
