"""Preparing the tokens on a fresh installation (the embedded SoftHSM2 default) and configuring them.

Split layout (the default): three tokens, each with its own PIN (README, "DESIGN notes"):
``HSM_CA_TOKEN_LABEL`` (root and issuing CA), ``HSM_SERVICES_TOKEN_LABEL`` (OCSP responder, TSA) and
``HSM_USERS_TOKEN_LABEL`` (users' signing keys and the signer's activation keys), optionally
``HSM_ROOT_TOKEN_LABEL`` for a root kept offline. The users' PIN has no embedded default: for SoftHSM
``hsm_init`` makes a random one and writes it to ``HSM_USERS_PIN_DEFAULT_FILE`` for the signer process.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path

from django.conf import settings

from core import hsm


def _config(label: str, pin: str | None) -> hsm.HSMConfig:
    return hsm.HSMConfig(
        module_path=settings.PKCS11_MODULE,
        token_label=label,
        user_pin=pin or None,
        so_pin=settings.HSM_SO_PIN,
        pool_size=settings.HSM_POOL_SIZE,
    )


def hsm_realm_configs(*, users_pin: str | None = None) -> tuple[hsm.HSMConfig, dict[str, hsm.HSMConfig]]:
    """(default token, realms) from the settings; ``users_pin`` overrides HSM_USERS_PIN (the signer)."""
    if settings.HSM_LAYOUT == "single":
        return _config(settings.HSM_TOKEN_LABEL, settings.HSM_PIN), {}
    ca = _config(settings.HSM_CA_TOKEN_LABEL, settings.HSM_CA_PIN)
    realms = {
        "ca": ca,
        "services": _config(settings.HSM_SERVICES_TOKEN_LABEL, settings.HSM_SERVICES_PIN),
        "users": _config(settings.HSM_USERS_TOKEN_LABEL, users_pin or settings.HSM_USERS_PIN),
    }
    if settings.HSM_ROOT_TOKEN_LABEL:
        realms["root"] = _config(settings.HSM_ROOT_TOKEN_LABEL, settings.HSM_ROOT_PIN)
    # Keys whose label names no realm (none in dsign itself) go to the CA token.
    return ca, realms


def hsm_configure(*, users_pin: str | None = None) -> None:
    default, realms = hsm_realm_configs(users_pin=users_pin)
    hsm.configure_realms(default=default, realms=realms)


def hsm_configure_signer(*, users_pin: str) -> None:
    """The signer process: the users' token with its PIN, and no other token at all."""
    users = _config(
        settings.HSM_LAYOUT == "single" and settings.HSM_TOKEN_LABEL or settings.HSM_USERS_TOKEN_LABEL, users_pin
    )
    absent = dataclasses.replace(users, token_label=f"{users.token_label}-not-in-signer", user_pin=None)
    hsm.configure_realms(default=absent, realms={"ca": absent, "services": absent, "users": users})


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


def users_pin_default() -> str:
    """The embedded default's users' PIN (the file hsm_init wrote); empty when there is none."""
    path = settings.HSM_USERS_PIN_DEFAULT_FILE
    if settings.PRODUCTION or not path.exists():
        return ""
    return path.read_text().strip()


def users_pin_for_creation() -> str:
    pin = settings.HSM_USERS_PIN or users_pin_default()
    if pin:
        return pin
    pin = secrets.token_urlsafe(24)
    path = settings.HSM_USERS_PIN_DEFAULT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(pin + "\n")
    return pin


def token_ensure() -> bool:
    """Create the missing tokens (SoftHSM only; a network HSM's partitions are made by its admins).

    True if any was created.
    """
    softhsm_config_ensure()
    default, realms = hsm_realm_configs()
    created = False
    seen: set[str] = set()
    for name, config in [("default", default), *realms.items()]:
        if config.token_label in seen or (name == "root" and not config.user_pin):
            # An offline root's token is not this machine's to create.
            continue
        seen.add(config.token_label)
        if name == "users" and not config.user_pin:
            if hsm.token_visible(config):
                continue
            config = dataclasses.replace(config, user_pin=users_pin_for_creation())
        created = hsm.token_ensure(config) or created
    return created
