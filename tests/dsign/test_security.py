"""Leaks and gaps a security auditor looks for: secrets on the DEBUG error page, inline script that a CSP
would have to allow, a session that polling keeps alive forever, an SSO route that answers 500."""

from __future__ import annotations

import re
import secrets
import sys
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.test import Client, RequestFactory
from django.views.debug import ExceptionReporter

from dsign.security import LAST_ACTIVE, STARTED

ROOT = Path(__file__).resolve().parents[2]


def test_debug_error_page_hides_pins_tokens_and_codes(settings):
    settings.DEBUG = True
    # Made up here, so the test's own source lines (shown on the page) do not hold them.
    settings.HSM_PIN, settings.HSM_SO_PIN = secrets.token_hex(8), secrets.token_hex(8)
    code = str(secrets.randbelow(900000) + 100000)
    request = RequestFactory().post("/documents/1/approve/", {"otp": code, "comment": "ok"})

    def sign_with(user_pin, config):
        raise RuntimeError("token refused the login")

    try:
        sign_with(settings.HSM_PIN, {"module": "softhsm", "user_pin": settings.HSM_PIN})
    except RuntimeError:
        page = ExceptionReporter(request, *sys.exc_info()).get_traceback_html()
    for secret in (settings.HSM_PIN, settings.HSM_SO_PIN, code, settings.SECRET_KEY):
        assert secret not in page
    assert "HSM_PIN" in page and "HSM_SO_PIN" in page and "********" in page
    assert "comment" in page  # other fields stay visible for debugging


def test_production_refuses_the_default_so_pin():
    from tests.dsign.test_checks import manage

    result = manage("check", DSIGN_PRODUCTION="true")
    assert result.returncode != 0
    assert "dsign.E005" in result.stderr and "HSM_SO_PIN is the embedded default" in result.stderr


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"\sstyle\s*=", re.IGNORECASE)


@pytest.mark.parametrize(
    "template", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "templates/office").glob("*.html"))
)
def test_office_templates_need_no_inline_script_or_style(template):
    text = (ROOT / template).read_text()
    assert not INLINE_SCRIPT.search(text), "inline <script>"
    assert not INLINE_HANDLER.search(text), "inline event handler"
    assert not INLINE_STYLE.search(text), "inline style attribute"


@pytest.mark.django_db
def test_pages_carry_a_csp_without_unsafe_inline_script(client, personas):
    client.force_login(personas["requester"])
    for path in ("/", "/accounts/login/", "/api/docs/"):
        policy = client.get(path)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in client.get("/")["Content-Security-Policy"]
    script = client.get("/api/docs/?script")  # Swagger UI's start-up script, served as a file
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def _signed_in_aged(client, user, *, started_ago: int = 0, active_ago: int = 0) -> None:
    """Sign in, then pretend the sign-in and the last page a person opened were that many seconds ago."""
    client.force_login(user)
    session = client.session
    session[STARTED] -= started_ago
    session[LAST_ACTIVE] -= active_ago
    session.save()


def _session(client) -> Session:
    return Session.objects.get(session_key=client.session.session_key)


@pytest.mark.django_db
def test_polling_does_not_extend_the_session_but_a_page_does(client, personas):
    client.force_login(personas["requester"])
    assert client.get("/").status_code == 200
    session = client.session
    session[STARTED] = session[LAST_ACTIVE] = session[STARTED] - 600
    session.save()
    before = _session(client)
    for _ in range(3):
        assert client.get("/documents/999999/timeline/").status_code == 404  # polled, not found: still signed in
    after = _session(client)
    assert after.expire_date == before.expire_date and after.session_data == before.session_data
    assert client.get("/").status_code == 200
    assert client.session[LAST_ACTIVE] > before.get_decoded()[LAST_ACTIVE]


@pytest.mark.django_db
def test_a_session_idle_too_long_ends_even_while_a_page_polls(client, personas, settings):
    _signed_in_aged(client, personas["requester"], active_ago=settings.SESSION_IDLE_SECONDS + 1)
    assert client.get("/documents/1/timeline/").status_code == 302  # to the sign-in page
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_a_session_ends_after_its_absolute_lifetime_however_active(client, personas, settings):
    _signed_in_aged(client, personas["requester"], started_ago=settings.SESSION_ABSOLUTE_SECONDS + 1)
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(personas["requester"])  # signing in again starts a new lifetime
    assert client.get("/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/oidc/authenticate/", "/oidc/callback/", "/oidc/logout/"])
def test_oidc_routes_are_404_when_sso_is_off(path, settings):
    settings.OIDC_ENABLED = False
    response = Client().get(path)
    assert response.status_code == 404


@pytest.mark.django_db
def test_var_and_everything_written_under_it_is_private(settings):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.db import connection

    var = Path(settings.VAR_DIR)
    assert var.stat().st_mode & 0o777 == 0o700
    name = default_storage.save("documents/perm-check.pdf", ContentFile(b"%PDF-1.7"))
    stored = Path(default_storage.path(name))
    assert stored.stat().st_mode & 0o777 == 0o600 and stored.parent.stat().st_mode & 0o077 == 0
    if connection.vendor == "sqlite":
        database = Path(connection.settings_dict["NAME"])
        for path in (database, database.with_name(database.name + "-wal")):
            if path.exists():
                assert path.stat().st_mode & 0o077 == 0, path
    tokens = var / "softhsm"
    for path in [tokens, *tokens.rglob("*")]:
        assert path.stat().st_mode & 0o077 == 0, path
