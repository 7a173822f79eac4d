"""Password guessing is limited (issue 18, acceptance 1): per account and per client address, audited,
refused even with the right password during the lock, on the page, the API and across gunicorn workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from audit.models import Event
from tests.conftest import admin_login

pytestmark = pytest.mark.django_db

LIMIT = settings.AXES_FAILURE_LIMIT
# Tests of the mechanics (not of the configured number) use a small limit: every wrong password costs a
# real password hash.
SMALL = 4


@pytest.fixture
def small_limit(settings):
    settings.AXES_FAILURE_LIMIT = SMALL
    return SMALL


def _login(client: Client, username: str, password: str, **extra):
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def test_twenty_wrong_passwords_lock_the_account_on_the_login_page(personas):
    assert LIMIT == 20
    client = Client()
    for attempt in range(LIMIT - 1):
        response = _login(client, "head1", f"wrong-{attempt}")
        assert response.status_code == 200  # the form again, with its error
    locked = _login(client, "head1", "wrong-last")

    assert locked.status_code == 429
    page = locked.content.decode()
    assert "ล็อก" in page  # Thai message (LANGUAGE_CODE th)
    right = _login(Client(), "head1", "demo-pass-2026")
    assert right.status_code == 429 and "_auth_user_id" not in right.client.session
    event = Event.objects.filter(action="accounts.locked_out").latest("pk")
    assert event.details["username"] == "head1" and event.outcome == "failure"
    assert Event.objects.filter(action="accounts.login_failed", actor_repr="head1").count() >= LIMIT


def test_lock_is_per_account_from_different_addresses(personas, small_limit):
    for attempt in range(SMALL):
        _login(Client(), "head2", f"wrong-{attempt}", REMOTE_ADDR=f"10.0.0.{attempt + 1}")
    response = _login(Client(), "head2", "demo-pass-2026", REMOTE_ADDR="10.9.9.9")
    assert response.status_code == 429


def test_lock_is_per_address_across_accounts(personas, small_limit):
    for attempt in range(SMALL):
        _login(Client(), f"nobody{attempt}", "wrong", REMOTE_ADDR="192.0.2.7")
    # Another account, right password, same address: refused; from elsewhere it works.
    assert _login(Client(), "head3", "demo-pass-2026", REMOTE_ADDR="192.0.2.7").status_code == 429
    assert _login(Client(), "head3", "demo-pass-2026", REMOTE_ADDR="192.0.2.8").status_code == 302


def test_api_session_sign_in_locks_the_same_way_and_answers_json(personas):
    client = APIClient()
    for attempt in range(LIMIT - 1):
        response = client.post("/api/v1/auth/session/", {"username": "director", "password": f"x{attempt}"})
        assert response.status_code == 400 and response.json()["code"] == "invalid_credentials"
    locked = client.post("/api/v1/auth/session/", {"username": "director", "password": "still-wrong"})
    assert locked.status_code == 429 and locked.json()["code"] == "locked_out"

    right = APIClient().post("/api/v1/auth/session/", {"username": "director", "password": "demo-pass-2026"})

    assert right.status_code == 429 and right.json()["code"] == "locked_out"
    assert "ล็อก" in right.json()["detail"]
    assert APIClient().get("/api/v1/me/").status_code in (401, 403)


def test_failures_on_the_page_and_the_api_add_up(personas, small_limit):
    for attempt in range(SMALL // 2):
        _login(Client(), "auditor", f"page-{attempt}")
        APIClient().post("/api/v1/auth/session/", {"username": "auditor", "password": f"api-{attempt}"})
    assert _login(Client(), "auditor", "demo-pass-2026").status_code == 429


def test_admin_login_page_is_locked_too(personas, small_limit):
    for attempt in range(SMALL):
        Client().post("/admin/login/", {"username": "admin", "password": f"w{attempt}", "otp_token": "123456"})
    response = Client().post("/admin/login/", {"username": "admin", "password": "demo-pass-2026"})
    assert response.status_code == 429


def test_an_admin_unlocks_the_account_and_it_is_audited(personas, small_limit):
    for attempt in range(SMALL):
        _login(Client(), "head1", f"wrong-{attempt}")
    assert _login(Client(), "head1", "demo-pass-2026").status_code == 429
    admin = admin_login(Client(), personas["admin"])

    admin.post("/admin/accounts/user/", {"action": "unlock_sign_in", "_selected_action": [personas["head1"].pk]})

    assert not AccessAttempt.objects.filter(username="head1").exists()
    assert _login(Client(), "head1", "demo-pass-2026").status_code == 302
    event = Event.objects.get(action="accounts.login_unlocked")
    assert event.actor == personas["admin"] and event.details["username"] == "head1"


def test_success_before_the_limit_clears_the_count(personas, small_limit):
    for attempt in range(SMALL - 1):
        _login(Client(), "head3", f"wrong-{attempt}")
    assert _login(Client(), "head3", "demo-pass-2026").status_code == 302
    assert _login(Client(), "head3", "wrong-again").status_code == 200


# --- client address behind a trusted proxy ------------------------------------------------------------


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(settings, personas):
    from core.client_ip import client_ip

    class Request:
        def __init__(self, remote, forwarded=""):
            self.META = {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded}

    settings.TRUSTED_PROXIES = []
    assert client_ip(Request("203.0.113.5", "1.2.3.4")) == "203.0.113.5"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.168.1.1"]
    assert client_ip(Request("10.1.1.1", "198.51.100.7")) == "198.51.100.7"
    # The client may write anything on the left; the right-most untrusted hop is who connected.
    assert client_ip(Request("10.1.1.1", "6.6.6.6, 198.51.100.7, 192.168.1.1")) == "198.51.100.7"
    assert client_ip(Request("203.0.113.5", "198.51.100.7")) == "203.0.113.5"


def test_lockout_and_audit_use_the_address_behind_the_trusted_proxy(settings, personas, small_limit):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    for attempt in range(SMALL):
        _login(Client(), f"ghost{attempt}", "x", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.20")
    assert Event.objects.filter(action="accounts.login_failed", ip_address="198.51.100.20").count() == SMALL
    # Another office behind the same proxy is not locked out by the guesser.
    ok = _login(Client(), "head1", "demo-pass-2026", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.21")
    assert ok.status_code == 302
    locked = _login(Client(), "head2", "demo-pass-2026", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.20")
    assert locked.status_code == 429


def test_throttle_counters_live_in_a_shared_cache_not_process_memory():
    from django.core.cache import caches

    backend = settings.CACHES["default"]["BACKEND"]
    assert "locmem" not in backend.lower()
    expected = "RedisCache" if settings.REDIS_URL else "DatabaseCache"
    assert backend.endswith(expected)
    caches["default"].set("dsign-test-key", 7)
    assert caches["default"].get("dsign-test-key") == 7


# --- several gunicorn workers ---------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_lockout_holds_across_two_gunicorn_workers(tmp_path):
    """A real `gunicorn -w 2` on a temporary SQLite database: counters are in the database, not in a
    worker's memory, so the 20th failure locks the account whichever worker took each request."""
    root = Path(settings.BASE_DIR)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DSIGN_", "DATABASE_URL", "REDIS_URL"))},
        "DSIGN_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "dsign.settings",
        "DEBUG": "false",
    }
    (tmp_path / "var").mkdir()
    python = sys.executable
    manage = [python, str(root / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=root, env=env, check=True, timeout=300)
    subprocess.run(
        [*manage, "shell", "-c",
         "from accounts.models import User; User.objects.create_user('victim', password='Right-Pass-2026-x')"],
        cwd=root, env=env, check=True, timeout=120,
    )  # fmt: skip
    port = _free_port()
    access_log = tmp_path / "access.log"
    server = subprocess.Popen(
        [python, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--no-control-socket",
         "--access-logfile", str(access_log),
         "--access-logformat", "%(p)s %(s)s %(U)s", "dsign.wsgi:application"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(f"{base}/accounts/login/", timeout=30).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start: " + server.stderr.read1().decode(errors="replace"))

        def attempt(password: str) -> requests.Response:
            # A fresh browser each time (new connection, new cookies), like a guessing script.
            browser = requests.Session()
            page = browser.get(f"{base}/accounts/login/", timeout=30)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            return browser.post(
                f"{base}/accounts/login/",
                data={"username": "victim", "password": password, "csrfmiddlewaretoken": token},
                headers={"Referer": f"{base}/accounts/login/"},
                allow_redirects=False,
                timeout=30,
            )

        statuses = [attempt(f"guess-{n}").status_code for n in range(LIMIT)]
        right = attempt("Right-Pass-2026-x")
        api = requests.post(
            f"{base}/api/v1/auth/session/", json={"username": "victim", "password": "Right-Pass-2026-x"}
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    assert statuses[: LIMIT - 1] == [200] * (LIMIT - 1) and statuses[-1] == 429
    assert right.status_code == 429 and "sessionid" not in right.cookies
    assert api.status_code == 429 and api.json()["code"] == "locked_out"
    pids = {line.split()[0] for line in access_log.read_text().splitlines() if "/accounts/login/" in line}
    # Which worker took which request is the kernel's choice; the log shows the processes that served.
    print(f"login requests served by gunicorn worker pids: {sorted(pids)}")
