"""A real `manage.py signer` process on the test run's tokens, and the tiers' environments.

The test process holds the users' PIN (it is its own signer, in-process); processes standing for the
web tier or the workers get `web_tier_env()`: no users' PIN, the signer's socket instead.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
USERS_PIN_VARIABLES = ("HSM_USERS_PIN", "HSM_USERS_PIN_FILE")


def web_tier_env(*, socket_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in USERS_PIN_VARIABLES and not k.startswith("PYTEST")}
    env.update(SOFTHSM2_CONF=str(settings.SOFTHSM2_CONF), SIGNER_SOCKET=str(socket_path))
    return env


@contextlib.contextmanager
def signer_process(socket_path: Path):
    """Start the signer (it is given the users' PIN; nothing else is), yield it, stop it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(SOFTHSM2_CONF=str(settings.SOFTHSM2_CONF))
    log = open(Path(socket_path).with_suffix(".log"), "wb")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [sys.executable, "manage.py", "signer", "--socket", str(socket_path)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    try:
        deadline = time.monotonic() + 90
        while not Path(socket_path).exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(Path(socket_path).with_suffix(".log").read_text(errors="replace")[-2000:])
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def remote_signer_in_use(socket_path: Path):
    """This test process talks to the signer process over its socket, as the web tier and workers do."""
    from core import signer as signer_client
    from signing import activation

    signer_client.configure(socket_path=socket_path, timeout=60)
    signer_client.use_local(None)
    try:
        yield
    finally:
        signer_client.use_local(activation.handle)
        signer_client.configure(socket_path=settings.SIGNER_SOCKET, timeout=settings.SIGNER_TIMEOUT)
