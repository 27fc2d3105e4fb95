from django.apps import AppConfig


class BreakGlassConfig(AppConfig):
    name = "portal.breakglass"
    label = "breakglass"
    verbose_name = "Break-glass access"
