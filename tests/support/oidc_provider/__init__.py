"""Starts the Node OpenID Connect provider of provider.mjs (oidc-provider) on a free loopback port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent


@dataclass
class RunningProvider:
    process: subprocess.Popen
    issuer: str

    def login_as(self, account: str) -> None:
        """The account the provider signs in at its next interaction (as if its user typed a password)."""
        requests.post(f"{self.issuer}/test/login-as", data=json.dumps({"account": account}), timeout=5)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_provider(*, client: dict, accounts: dict[str, dict]) -> RunningProvider:
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("oidc-provider is not installed: run scripts/install-test-node.sh")
    port = _free_port()
    env = os.environ | {
        "OIDC_TEST_PORT": str(port),
        "OIDC_TEST_CLIENT": json.dumps(client),
        "OIDC_TEST_ACCOUNTS": json.dumps(accounts, ensure_ascii=False),
    }
    process = subprocess.Popen(
        ["node", str(HERE / "provider.mjs")],
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 20
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("READY "):
            # Keep reading its output so a chatty provider never blocks on a full pipe.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return RunningProvider(process=process, issuer=line.split(" ", 1)[1].strip())
    process.kill()
    raise RuntimeError("the OIDC provider did not start:\n" + "".join(lines))
