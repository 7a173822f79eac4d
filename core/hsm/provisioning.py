"""Token provisioning: finding the token and initialising it (SoftHSM)."""

from __future__ import annotations

import fcntl
import os
import subprocess

from pkcs11 import exceptions as p11_errors

from . import pool
from .pool import HSMConfig, HSMError, HSMUnavailable, _load_library, _pools

# --- token provisioning -----------------------------------------------------------------------


def _is_softhsm(module_path: str) -> bool:
    return "softhsm" in os.path.basename(module_path).lower()


def _token_visible(config: HSMConfig) -> bool:
    with pool._module_lock:
        lib = _load_library(config, force=True)
        try:
            lib.get_token(token_label=config.token_label)
        except p11_errors.NoSuchToken:
            return False
    return True


def token_visible(config: HSMConfig) -> bool:
    """Whether the token of ``config`` exists (no login needed)."""
    return _token_visible(config)


def token_ensure(config: HSMConfig) -> bool:
    """Make sure the token exists; for SoftHSM create it when missing. True if it was created."""
    if _token_visible(config):
        return False
    if not _is_softhsm(config.module_path):
        raise HSMUnavailable(f"token {config.token_label!r} not found in {config.module_path}")
    if not config.so_pin:
        raise HSMError("creating a SoftHSM token needs the SO PIN")
    lock_path = os.environ.get("SOFTHSM2_CONF", "/tmp/dsign-softhsm2") + ".init.lock"
    with open(lock_path, "a") as lock_file:
        # Two processes starting together must not create two tokens with the same label.
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            if _token_visible(config):
                return False
            result = subprocess.run(
                [
                    "softhsm2-util",
                    "--init-token",
                    "--free",
                    "--label",
                    config.token_label,
                    "--pin",
                    config.user_pin,
                    "--so-pin",
                    config.so_pin,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise HSMError(f"softhsm2-util --init-token failed: {result.stderr.strip()}")
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    with pool._state_lock:
        _pools.clear()
    if not _token_visible(config):
        raise HSMUnavailable(f"token {config.token_label!r} created but not visible")
    return True
