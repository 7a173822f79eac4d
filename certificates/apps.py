from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    name = "certificates"
    verbose_name = "Certificates"

    def ready(self) -> None:
        from .services import agreement, expiry  # noqa: F401 - their mail-ledger receivers
