from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "portal.core"
    label = "core"

    def ready(self) -> None:
        from portal.core import db, queue  # noqa: F401 - each connects its receivers of the web requests' signals
