"""System checks that keep a production installation from starting with embedded defaults."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=False)
def production_secrets(app_configs, **kwargs):
    if not settings.PRODUCTION:
        return []
    problems = []
    if settings.SECRET_KEY == settings.INSECURE_SECRET_KEY or len(settings.SECRET_KEY) < 40:
        problems.append(
            Error(
                "SECRET_KEY is the embedded default (or shorter than 40 characters).",
                hint="Set SECRET_KEY or SECRET_KEY_FILE to a long random value.",
                id="dsign.E001",
            )
        )
    pins = ["HSM_PIN"] if settings.HSM_LAYOUT == "single" else ["HSM_CA_PIN", "HSM_SERVICES_PIN"]
    for name in pins:
        if getattr(settings, name) == settings.INSECURE_HSM_PIN:
            problems.append(
                Error(
                    f"{name} is the embedded default PIN.",
                    hint=f"Set {name} or {name}_FILE to the token's user PIN.",
                    id="dsign.E002",
                )
            )
    if settings.HSM_SO_PIN == settings.INSECURE_HSM_SO_PIN:
        problems.append(
            Error(
                "HSM_SO_PIN is the embedded default SO PIN.",
                hint="Set HSM_SO_PIN or HSM_SO_PIN_FILE to the token's security officer PIN.",
                id="dsign.E005",
            )
        )
    if settings.DEBUG:
        problems.append(Error("DEBUG is on in production.", hint="Unset DEBUG.", id="dsign.E003"))
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        problems.append(
            Warning(
                "Production is running on SQLite.",
                hint="Set DATABASE_URL to a PostgreSQL database to run several web and worker hosts.",
                id="dsign.W001",
            )
        )
    if settings.BASE_URL.startswith("http://127.0.0.1") or settings.BASE_URL.startswith("http://localhost"):
        problems.append(
            Error(
                "DSIGN_BASE_URL is a loopback address; it is written into every certificate (CRL, OCSP).",
                hint="Set DSIGN_BASE_URL to the public https:// address of this installation.",
                id="dsign.E004",
            )
        )
    return problems


@register(Tags.compatibility)
def upload_limit(app_configs, **kwargs):
    if settings.MAX_UPLOAD_BYTES <= 0:
        return [Error("MAX_UPLOAD_BYTES must be positive.", id="dsign.E010")]
    return []


@register(Tags.security)
def anchor_trust(app_configs, **kwargs):
    """Audit anchors from another TSA cannot be checked without its certificate."""
    internal = settings.TSA_URL.rstrip("/") == f"{settings.BASE_URL}/pki/tsa"
    if not internal and not settings.TSA_CERTIFICATE:
        return [
            Warning(
                "TSA_URL names an external TSA but TSA_CERTIFICATE is not set: audit anchors cannot be verified.",
                hint="Set TSA_CERTIFICATE to the TSA's certificate (PEM) or the CA certificate above it.",
                id="dsign.W002",
            )
        ]
    return []
