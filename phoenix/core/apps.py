from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "phoenix.core"
    label = "core"
    verbose_name = "Core"
