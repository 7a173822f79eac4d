"""Loaded with `-p` before Django is configured: gives the test run its own var/ directory and address.

The whole run gets a fresh state directory (SQLite files, the SoftHSM token, media), so tests never touch
the demo's var/, and a fixed loopback address for the live server, because the internal CA writes its
CRL and OCSP URLs into certificates at issuance.
"""

import os
import socket
import tempfile


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if "DSIGN_TEST_VAR_DIR" not in os.environ:
    os.environ["DSIGN_TEST_VAR_DIR"] = tempfile.mkdtemp(prefix="dsign-test-")
# A pytest-xdist worker (`-n 2`) inherited the controller's directory and port: it gets its own of both
# (its own SQLite files, SoftHSM token, CA and live-server address), so workers never share state.
if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["DSIGN_TEST_VAR_DIR"] = os.path.join(os.environ["DSIGN_TEST_VAR_DIR"], worker)
    os.makedirs(os.environ["DSIGN_TEST_VAR_DIR"], exist_ok=True)
    os.environ["DSIGN_TEST_PORT"] = str(_free_port())
os.environ["DSIGN_VAR_DIR"] = os.environ["DSIGN_TEST_VAR_DIR"]
os.environ.pop("SOFTHSM2_CONF", None)
os.environ.pop("DSIGN_PRODUCTION", None)
if "DSIGN_TEST_PORT" not in os.environ:
    os.environ["DSIGN_TEST_PORT"] = str(_free_port())
os.environ["DJANGO_LIVE_TEST_SERVER_ADDRESS"] = f"127.0.0.1:{os.environ['DSIGN_TEST_PORT']}"
os.environ["DSIGN_BASE_URL"] = f"http://127.0.0.1:{os.environ['DSIGN_TEST_PORT']}"
os.environ.setdefault("Q_SYNC", "true")
# The test process is also the signer (in-process); processes that stand for the web tier or the
# workers are started without it (tests/support/tiers.py).
os.environ.setdefault("HSM_USERS_PIN", "dsign-test-users-pin")
os.environ.setdefault("SIGNING_KEY_ALGORITHM", "ec-p256")
