"""A fresh SoftHSM2 token in a temporary directory, configured for ``signing.hsm``.

Usage in a test or fixture::

    config = make_token(tmp_path)          # sets SOFTHSM2_CONF and calls hsm.configure(config)
    hsm.key_generate(label="k1")
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from signing import hsm

MODULE_PATH = "/usr/lib/softhsm/libsofthsm2.so"
SO_PIN = "5678"


def make_token(tmp_path: Path, label: str = "dsign-test", pin: str = "1234") -> hsm.HSMConfig:
    """Create a token under ``tmp_path``, point SOFTHSM2_CONF at it and configure the HSM module.

    SOFTHSM2_CONF stays set for the rest of the process (and its children), so call this once per
    test that needs a clean token; ``hsm.configure`` makes the next use re-read it.
    """
    token_dir = Path(tmp_path) / "softhsm-tokens"
    token_dir.mkdir(parents=True, exist_ok=True)
    conf = Path(tmp_path) / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", SO_PIN],
        check=True,
        capture_output=True,
    )
    config = hsm.HSMConfig(module_path=MODULE_PATH, token_label=label, user_pin=pin, so_pin=SO_PIN)
    hsm.configure(config)
    return config
