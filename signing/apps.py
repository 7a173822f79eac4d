from django.apps import AppConfig


class SigningConfig(AppConfig):
    name = "signing"
    verbose_name = "Signing"

    def ready(self):
        from django.conf import settings

        from core import hsm

        # Configuring only records the settings; the library is loaded on first use, in each process.
        hsm.configure(
            hsm.HSMConfig(
                module_path=settings.PKCS11_MODULE,
                token_label=settings.HSM_TOKEN_LABEL,
                user_pin=settings.HSM_PIN,
                so_pin=settings.HSM_SO_PIN,
                pool_size=settings.HSM_POOL_SIZE,
            )
        )
