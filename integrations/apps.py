from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations (API clients, webhooks)")

    def ready(self) -> None:
        from . import schema  # noqa: F401  registers the OpenAPI description of the API-key scheme
