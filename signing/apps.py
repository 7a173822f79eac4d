from django.apps import AppConfig


class SigningConfig(AppConfig):
    name = "signing"
    verbose_name = "Signing"

    def ready(self):
        from . import setup

        # Configuring only records the settings; the library is loaded on first use, in each process.
        setup.hsm_configure()
