from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SigningConfig(AppConfig):
    name = "signing"
    verbose_name = _("Signing jobs")

    def ready(self):
        from django.conf import settings

        from core import signer

        from . import activation, setup, signals

        # Configuring only records the settings; the library is loaded on first use, in each process.
        setup.hsm_configure()
        signer.configure(socket_path=settings.SIGNER_SOCKET, timeout=settings.SIGNER_TIMEOUT)
        # A process given the users' PIN is its own signer (tests, an administrator's shell); every
        # other one (web, workers) asks the signer process over its socket.
        signer.use_local(activation.handle if settings.HSM_USERS_PIN else None)
        signals.connect()
