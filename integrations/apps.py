from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations (API clients, webhooks)"

    def ready(self) -> None:
        from . import schema  # noqa: F401  registers the OpenAPI description of the API-key scheme
