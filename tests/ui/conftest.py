"""Headless Chromium (Debian's, Playwright's sync API) against the live server, recording every request."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "demo-pass-2026"
LOCAL_SCHEMES = {"data", "blob", "about"}


class Requests(list):
    """Every URL the browser asked for; `outside()` lists those not on 127.0.0.1."""

    def outside(self) -> list[str]:
        return [
            url for url in self if urlsplit(url).scheme not in LOCAL_SCHEMES and urlsplit(url).hostname != "127.0.0.1"
        ]


def chromium_executable() -> str | None:
    """A real system Chromium (Debian's), or None for Playwright's own build (Ubuntu's chromium is a snap stub)."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "find-chromium.sh"
    return subprocess.run(["bash", str(script)], capture_output=True, text=True).stdout.strip() or None


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in the test thread; the test's own ORM calls (fixtures, asserts)
    # are still plain synchronous code, so Django's async-context guard is told so.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def requests_seen():
    return Requests()


@pytest.fixture
def open_page(browser, requests_seen):
    """A new browser context (its own cookies) per persona; every request it makes is recorded."""
    contexts = []

    def make(*, width: int = 1280, height: int = 900, lang: str = "th-TH"):
        context = browser.new_context(viewport={"width": width, "height": height}, locale=lang, accept_downloads=True)
        context.on("request", lambda request: requests_seen.append(request.url))
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("ชื่อผู้ใช้").fill(username)
    page.get_by_label("รหัสผ่าน").fill(PASSWORD)
    page.get_by_role("button", name="เข้าสู่ระบบ", exact=True).click()
    page.wait_for_url(f"{base_url}/")
