from django.apps import AppConfig


class DsignConfig(AppConfig):
    name = "dsign"
    verbose_name = "dsign"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from . import checks  # noqa: F401  (registers the system checks)
        from .security import session_started

        user_logged_in.connect(session_started, dispatch_uid="dsign.session_started")
