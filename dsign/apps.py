from django.apps import AppConfig


class DsignConfig(AppConfig):
    name = "dsign"
    verbose_name = "dsign"

    def ready(self):
        from django.core.signals import request_finished, request_started

        from . import checks  # noqa: F401  (registers the system checks)
        from .logsetup import on_request_finished, on_request_started

        request_started.connect(on_request_started, dispatch_uid="dsign-request-id")
        request_finished.connect(on_request_finished, dispatch_uid="dsign-request-id")
