"""Project-wide fixtures: the test database holds the internal CA and the demo personas.

The CA and the personas (requester, head1..3, director, auditor, admin) are created once per run, with
their keys in the run's own SoftHSM token, right after the test database is made. Tests then run inside
transactions that roll back; transactional tests restore the same content (serialized rollback).
"""

from __future__ import annotations

import io
import os

import pikepdf
import pytest
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from core import hsm


def project_hsm_config() -> hsm.HSMConfig:
    """The run's default token (the CA token in the split layout)."""
    from signing import setup

    return setup.hsm_realm_configs()[0]


def use_project_token() -> None:
    """Point the HSM module back at the run's tokens (unit tests of core.hsm make their own)."""
    from signing import setup

    default, realms = setup.hsm_realm_configs()
    if os.environ.get("SOFTHSM2_CONF") != str(settings.SOFTHSM2_CONF) or hsm.configuration() != (default, realms):
        os.environ["SOFTHSM2_CONF"] = str(settings.SOFTHSM2_CONF)
        hsm.configure_realms(default=default, realms=realms)


@pytest.fixture(autouse=True)
def _project_token():
    use_project_token()
    yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    from django.db import connections

    from signing import setup

    with django_db_blocker.unblock():
        use_project_token()
        setup.token_ensure()
        call_command("ca_init", verbosity=0)
        call_command("seed_demo", verbosity=0)
        # Transactional tests flush the tables; serialized rollback puts this content back.
        for connection in connections.all():
            connection._test_serialized_contents = connection.creation.serialize_db_to_string()


@pytest.fixture
def personas(db):
    from accounts.models import User

    return {u.username: u for u in User.objects.all()}


@pytest.fixture
def outsider(db):
    from accounts.models import User

    return User.objects.create_user("outsider", password="demo-pass-2026", first_name_th="คนนอก")


def make_otp(user, code: str = "246810") -> str:
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    device, _ = StaticDevice.objects.get_or_create(user=user, name="test", defaults={"confirmed": True})
    StaticToken.objects.get_or_create(device=device, token=code)
    return code


@pytest.fixture
def otp():
    return make_otp


def admin_login(client, user):
    """Sign `user` in for Django admin, which needs a session verified with a second factor (OTP).

    The session is marked verified by a confirmed device of the user, as django-otp's login() does after
    the admin login form accepted a code; tests of the login form itself post real codes.
    """
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_static.models import StaticDevice

    device, _ = StaticDevice.objects.get_or_create(user=user, name="admin-test", defaults={"confirmed": True})
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


_token_keys: dict[int, str] = {}


def api_token_for(user) -> str:
    """A personal API token key for `user`, reused while its row exists (tests roll back)."""
    from accounts.models import ApiToken
    from accounts.services import _token_hash, api_token_create

    key = _token_keys.get(user.pk)
    if key is None or not ApiToken.objects.filter(key_hash=_token_hash(key), user=user).exists():
        _, key = api_token_create(user=user, name="test")
        _token_keys[user.pk] = key
    return key


def api_client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(user)}")
    return client


@pytest.fixture
def api_for():
    return api_client_for


def blank_pdf(pages: int = 1, text: str | None = None) -> bytes:
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=(595, 842))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


@pytest.fixture
def pdf_bytes():
    return blank_pdf()
