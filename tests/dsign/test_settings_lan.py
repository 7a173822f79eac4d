"""A LAN demo sets DSIGN_BASE_URL (and DSIGN_BIND); its host name is then served without ALLOWED_HOSTS."""

import os
import subprocess
import sys

from tests.support.web import ROOT


def _allowed_hosts(**env: str) -> str:
    code = "from django.conf import settings; print(' '.join(settings.ALLOWED_HOSTS))"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1].split()


def test_the_base_url_host_is_allowed_for_a_lan_demo():
    assert "192.168.1.10" in _allowed_hosts(DSIGN_BASE_URL="http://192.168.1.10:8000")


def test_an_explicit_allowed_hosts_list_still_gets_the_base_url_host():
    assert _allowed_hosts(ALLOWED_HOSTS="sign.example.go.th", DSIGN_BASE_URL="https://sign.example.go.th") == [
        "sign.example.go.th"
    ]
