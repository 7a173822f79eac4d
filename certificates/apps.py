from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    name = "certificates"
    verbose_name = "Certificates"

    def ready(self) -> None:
        from . import mail  # noqa: F401 - the certificate e-mails' receivers of the mail ledger's outcomes
