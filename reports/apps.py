from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from . import emails  # noqa: F401 - the monthly e-mail's mail-ledger receiver
