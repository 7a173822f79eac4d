"""Preparing the token on a fresh installation (the embedded SoftHSM2 default)."""

from pathlib import Path

from django.conf import settings

from core import hsm


def softhsm_config_ensure() -> Path | None:
    """Write var/softhsm2.conf pointing at var/softhsm/tokens, unless a config already exists."""
    if settings.PKCS11_MODULE != settings.SOFTHSM_MODULE:
        return None
    conf = settings.SOFTHSM2_CONF
    if not conf.exists():
        tokens = settings.VAR_DIR / "softhsm" / "tokens"
        tokens.mkdir(parents=True, exist_ok=True)
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(
            f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
        )
    return conf


def token_ensure() -> bool:
    """Create the token if it is missing (SoftHSM only; a network HSM's token is made by its admins)."""
    softhsm_config_ensure()
    return hsm.token_ensure(hsm.get_config())
