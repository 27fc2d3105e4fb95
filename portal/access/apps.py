from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "portal.access"
    label = "access"

    def ready(self):
        # Register the workflow's Celery tasks in every process, web included: the services queue
        # them by name (they never import the tasks module, which imports them).
        from portal.access import tasks  # noqa: F401
