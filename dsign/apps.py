from django.apps import AppConfig


class DsignConfig(AppConfig):
    name = "dsign"
    verbose_name = "dsign"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
