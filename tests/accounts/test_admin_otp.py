"""Django admin needs a second factor (issue 18, acceptance 2), and reading sensitive pages is audited."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django_otp.plugins.otp_static.models import StaticDevice

from audit.models import Event
from certificates import selectors as certificate_selectors
from tests.conftest import admin_login, make_otp

pytestmark = pytest.mark.django_db


def _admin_paths() -> list[str]:
    """Every admin URL (parameters filled with 1): the index, each app, each model's pages, custom views."""
    paths = []

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                paths.append(route)

    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLResolver) and getattr(pattern, "namespace", None) == "admin":
            walk(pattern.url_patterns, "/" + str(pattern.pattern))
    concrete = set()
    for route in paths:
        if "login" in route or "logout" in route or route.endswith("jsi18n/"):
            continue
        route = route.replace("^", "").replace("$", "")
        route = re.sub(r"<[^>]+>", "1", route)
        route = re.sub(r"\(\?P<app_label>[^)]*\)", "accounts", route)
        if "(" in route:
            continue
        concrete.add(route)
    return sorted(concrete)


def _password_only_client(username: str) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": "demo-pass-2026"})
    assert response.status_code == 302
    return client


def test_admin_with_password_but_no_second_factor_reaches_no_admin_page(personas):
    make_otp(personas["admin"], "864200")  # he has a device; the session just never used it
    client = _password_only_client("admin")
    paths = _admin_paths()
    assert "/admin/" in paths and "/admin/accounts/user/" in paths and "/admin/certificates/certificate/enrol/" in paths
    assert len(paths) > 60

    reached = []
    for path in paths:
        for method in (client.get, client.post):
            response = method(path)
            if response.status_code not in (302, 403) or (
                response.status_code == 302 and not response["Location"].startswith("/admin/login/")
            ):
                reached.append((method.__name__, path, response.status_code))
    assert reached == []


def test_admin_login_form_refuses_a_password_without_a_code(personas):
    make_otp(personas["admin"], "864200")
    client = Client()

    page = client.post("/admin/login/", {"username": "admin", "password": "demo-pass-2026"})

    assert page.status_code == 200  # the form again
    assert client.get("/admin/").status_code == 302


def test_admin_login_with_password_and_code_opens_the_console(personas):
    device = StaticDevice.objects.create(user=personas["admin"], name="admin codes", confirmed=True)
    device.token_set.create(token="864200")
    client = Client()

    response = client.post(
        "/admin/login/",
        {"username": "admin", "password": "demo-pass-2026", "otp_device": device.persistent_id, "otp_token": "864200"},
    )

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200


def test_staff_without_any_device_cannot_sign_in_to_admin(personas):
    client = Client()
    client.post("/admin/login/", {"username": "auditor", "password": "demo-pass-2026", "otp_token": "000000"})
    assert client.get("/admin/").status_code == 302


def test_viewing_login_history_is_audited_with_who_and_filters(personas):
    client = admin_login(Client(), personas["auditor"])

    assert client.get("/admin/accounts/loginevent/?outcome__exact=failure").status_code == 200

    event = Event.objects.filter(action="admin.viewed").latest("pk")
    assert event.actor == personas["auditor"]
    assert event.details["page"] == "accounts.loginevent" and event.details["query"] == {"outcome__exact": "failure"}


@pytest.mark.hsm
def test_viewing_a_certificate_in_admin_is_audited(personas):
    cert = certificate_selectors.certificate_for_signing(user=personas["head1"])
    client = admin_login(Client(), personas["auditor"])

    assert client.get(f"/admin/certificates/certificate/{cert.pk}/change/").status_code == 200

    event = Event.objects.filter(action="admin.viewed", target_id=str(cert.pk)).get()
    assert event.actor == personas["auditor"] and event.target_type == "certificates.certificate"
