from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "portal.reviews"
    label = "reviews"
    verbose_name = "Access reviews"

    def ready(self):
        # Register the app's Celery tasks in every process, web included: the services queue them by
        # name (`portal.core.queue`), so that a task queued in an eager test run finds its function.
        from portal.reviews import tasks  # noqa: F401
