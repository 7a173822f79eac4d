"""A second factor is added only with a factor (issue 15, acceptance 1).

The attacker holds a user's API token or password, not one of their devices: backup codes, enrolment,
confirmation and removal are all refused; the user is e-mailed on every factor and password change;
a password change revokes the API tokens and other sessions; minted codes are audited.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import services
from accounts.models import EnrolmentCode, PendingEnrolment, StepUp, User
from audit.models import Event
from tests.conftest import admin_login, api_client_for, make_otp

pytestmark = pytest.mark.django_db


def totp_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def head1_with_device(personas):
    """head1 owns a confirmed factor (backup codes 111111 and 222222)."""
    head1 = personas["head1"]
    make_otp(head1, "111111")
    make_otp(head1, "222222")
    return head1


# --- with only the API token ---------------------------------------------------------------------------


def test_api_token_alone_cannot_mint_backup_codes(head1_with_device):
    client = api_client_for(head1_with_device)

    response = client.post("/api/v1/me/mfa/backup-codes/", {}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "factor_required"
    assert not StaticDevice.objects.filter(user=head1_with_device, name="Backup codes").exists()
    assert Event.objects.filter(action="accounts.mfa_change_refused", target_id=str(head1_with_device.pk)).exists()


def test_api_token_with_a_wrong_code_cannot_mint_backup_codes(head1_with_device):
    response = api_client_for(head1_with_device).post("/api/v1/me/mfa/backup-codes/", {"otp": "999999"}, format="json")
    assert response.status_code == 403
    assert not StaticDevice.objects.filter(user=head1_with_device, name="Backup codes").exists()


@pytest.mark.parametrize(
    "body",
    [{"kind": "totp"}, {"kind": "email", "email": "attacker@evil.example"}, {"kind": "sms", "phone": "0899999999"}],
)
def test_api_token_alone_cannot_enrol_a_device(head1_with_device, body):
    response = api_client_for(head1_with_device).post("/api/v1/me/mfa/enrol/", body, format="json")

    assert response.status_code == 403, response.content
    assert "MFA" in response.json()["detail"]
    assert [d.name for d in TOTPDevice.objects.filter(user=head1_with_device)] == []
    assert all(m.to != ["attacker@evil.example"] for m in mail.outbox)


def test_api_token_alone_cannot_enrol_the_first_device_of_a_user_who_has_none(personas):
    # No device yet and no browser sign-in: the token is all the attacker has.
    response = api_client_for(personas["director"]).post("/api/v1/me/mfa/enrol/", {"kind": "totp"}, format="json")
    assert response.status_code == 403
    assert not TOTPDevice.objects.filter(user=personas["director"]).exists()


def test_api_token_alone_cannot_confirm_a_pending_device(head1_with_device):
    # A pending device nobody authorised (e.g. left over from before): confirming it also needs a factor.
    device = TOTPDevice.objects.create(user=head1_with_device, name="planted", confirmed=False)

    response = api_client_for(head1_with_device).post(
        "/api/v1/me/mfa/confirm/", {"device": device.persistent_id, "code": totp_code(device)}, format="json"
    )

    assert response.status_code == 403
    device.refresh_from_db()
    assert not device.confirmed


def test_api_token_alone_cannot_remove_a_device(head1_with_device):
    device = StaticDevice.objects.get(user=head1_with_device, name="test")

    response = api_client_for(head1_with_device).post(
        "/api/v1/me/mfa/remove/", {"device": device.persistent_id}, format="json"
    )

    assert response.status_code == 403
    assert StaticDevice.objects.filter(pk=device.pk).exists()


def test_with_a_code_from_an_existing_device_the_user_adds_a_totp_and_is_told(
    head1_with_device, django_capture_on_commit_callbacks
):
    client = api_client_for(head1_with_device)

    start = client.post("/api/v1/me/mfa/enrol/", {"kind": "totp", "otp": "111111"}, format="json")
    assert start.status_code == 201, start.content
    device = TOTPDevice.objects.get(user=head1_with_device)
    assert PendingEnrolment.objects.get(device_id=device.persistent_id).authorised_by.startswith("otp:")
    # The enrolment was authorised when it started: the new device's own code confirms it.
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        confirm = client.post(
            "/api/v1/me/mfa/confirm/", {"device": start.json()["device"], "code": totp_code(device)}, format="json"
        )

    assert confirm.status_code == 200 and confirm.json()["confirmed"] is True
    assert [m.to for m in mail.outbox] == [["head1@dsign.example"]]
    assert "MFA" in mail.outbox[0].subject
    event = Event.objects.filter(action="accounts.mfa_enrolled", target_id=str(head1_with_device.pk)).get()
    assert event.details["authorised_by"].startswith("otp:otp_static.staticdevice/")


def test_a_code_works_for_one_change_only(head1_with_device, django_capture_on_commit_callbacks):
    client = api_client_for(head1_with_device)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/api/v1/me/mfa/backup-codes/", {"otp": "111111"}, format="json")
    assert first.status_code == 201 and len(first.json()["codes"]) == 10
    assert [m.to for m in mail.outbox] == [["head1@dsign.example"]]
    StaticDevice.objects.filter(user=head1_with_device).update(throttling_failure_timestamp=None)

    again = client.post("/api/v1/me/mfa/backup-codes/", {"otp": "111111"}, format="json")

    assert again.status_code == 403


def test_removing_a_device_with_a_code_works_and_tells_the_user(head1_with_device, django_capture_on_commit_callbacks):
    device = StaticDevice.objects.get(user=head1_with_device, name="test")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client_for(head1_with_device).post(
            "/api/v1/me/mfa/remove/", {"device": device.persistent_id, "otp": "222222"}, format="json"
        )
    assert response.status_code == 204
    assert not StaticDevice.objects.filter(pk=device.pk).exists()
    assert mail.outbox[-1].to == ["head1@dsign.example"]
    assert Event.objects.filter(action="accounts.mfa_removed", target_id=str(head1_with_device.pk)).exists()


# --- with only the password (the office MFA page) --------------------------------------------------------


def _page_client(user) -> Client:
    """A browser that signed in on the login page with the password (no device code)."""
    client = Client()
    response = client.post("/accounts/login/", {"username": user.username, "password": "demo-pass-2026"})
    assert response.status_code == 302, response.content
    return client


@pytest.mark.parametrize(
    "post",
    [
        {"action": "totp", "name": "Authenticator"},
        {"action": "email", "email": "attacker@evil.example"},
        {"action": "sms", "phone": "0899999999"},
        {"action": "backup"},
    ],
)
def test_password_alone_cannot_add_factors_on_the_mfa_page(head1_with_device, post):
    client = _page_client(head1_with_device)

    page = client.post("/accounts/mfa/", post).content.decode()

    assert "A code from one of your MFA devices is required" in page or "ต้องใช้รหัส" in page
    assert not TOTPDevice.objects.filter(user=head1_with_device).exists()
    assert not StaticDevice.objects.filter(user=head1_with_device, name="Backup codes").exists()
    assert sorted(d.name for d in StaticDevice.objects.filter(user=head1_with_device)) == ["test"]


def test_password_alone_cannot_remove_a_device_on_the_mfa_page(head1_with_device):
    device = StaticDevice.objects.get(user=head1_with_device, name="test")
    client = _page_client(head1_with_device)

    client.post("/accounts/mfa/", {"action": "delete", "device": device.persistent_id})

    assert StaticDevice.objects.filter(pk=device.pk).exists()


def test_password_alone_cannot_confirm_a_planted_device_on_the_mfa_page(head1_with_device):
    device = TOTPDevice.objects.create(user=head1_with_device, name="planted", confirmed=False)
    client = _page_client(head1_with_device)

    client.post("/accounts/mfa/", {"action": "confirm", "device": device.persistent_id, "code": totp_code(device)})

    device.refresh_from_db()
    assert not device.confirmed


def test_mfa_page_adds_a_device_with_a_code_from_an_existing_one(head1_with_device):
    client = _page_client(head1_with_device)

    page = client.post("/accounts/mfa/", {"action": "totp", "name": "Authenticator", "otp": "111111"})

    assert page.status_code == 200 and "<svg" in page.content.decode()
    assert TOTPDevice.objects.filter(user=head1_with_device, confirmed=False).count() == 1


def test_first_device_only_shortly_after_signing_in(personas):
    director = personas["director"]
    client = _page_client(director)
    session = client.session
    session[services.SIGNED_IN_AT_SESSION_KEY] = (timezone.now() - timedelta(minutes=11)).timestamp()
    session.save()

    late = client.post("/accounts/mfa/", {"action": "totp", "name": "Authenticator"})

    assert "เพิ่มอุปกรณ์ MFA เครื่องแรกได้เฉพาะช่วงสั้น ๆ หลังเข้าสู่ระบบ" in late.content.decode()
    assert not TOTPDevice.objects.filter(user=director).exists()
    fresh = _page_client(director).post("/accounts/mfa/", {"action": "totp", "name": "Authenticator"})
    assert "<svg" in fresh.content.decode()
    assert TOTPDevice.objects.filter(user=director, confirmed=False).exists()


# --- the enrolment code an admin has sent -------------------------------------------------------------


def test_admin_sends_an_enrolment_code_that_only_the_user_sees_and_it_works_once(
    personas, django_capture_on_commit_callbacks
):
    director = personas["director"]
    admin = admin_login(Client(), personas["admin"])
    with django_capture_on_commit_callbacks(execute=True):
        page = admin.post(
            "/admin/accounts/user/",
            {"action": "send_enrolment_code", "_selected_action": [director.pk]},
            follow=True,
        )
    body = page.content.decode()
    sent = [m for m in mail.outbox if m.to == ["director@dsign.example"]]
    assert len(sent) == 1
    code = next(word for word in sent[0].body.split() if word.count("-") == 2 and len(word) == 14)
    assert code not in body and code.replace("-", "") not in body
    assert EnrolmentCode.objects.get(user=director).code_sha256 not in (code, code.replace("-", ""))
    event = Event.objects.get(action="accounts.enrolment_code_issued", target_id=str(director.pk))
    assert code not in str(event.details)

    # The user, with only an API token (no browser sign-in), enrols with the code from the e-mail.
    client = api_client_for(director)
    start = client.post("/api/v1/me/mfa/enrol/", {"kind": "totp", "enrolment_code": code.lower()}, format="json")
    assert start.status_code == 201, start.content
    device = TOTPDevice.objects.get(user=director)
    confirm = client.post(
        "/api/v1/me/mfa/confirm/", {"device": start.json()["device"], "code": totp_code(device)}, format="json"
    )
    assert confirm.status_code == 200
    # Used up: the same code does nothing for anyone now.
    TOTPDevice.objects.filter(user=director).delete()
    reuse = client.post("/api/v1/me/mfa/enrol/", {"kind": "totp", "enrolment_code": code}, format="json")
    assert reuse.status_code == 403


def test_no_enrolment_code_for_a_user_who_already_has_a_device(head1_with_device, personas):
    with pytest.raises(services.MFAError, match="มีอุปกรณ์ MFA อยู่แล้ว"):
        services.enrolment_code_issue(user=head1_with_device, actor=personas["admin"])


# --- passwords revoke the other credentials -----------------------------------------------------------


def test_password_change_revokes_api_tokens_and_other_sessions_and_tells_the_user(
    personas, django_capture_on_commit_callbacks
):
    head2 = personas["head2"]
    token_client = api_client_for(head2)
    other_browser = _page_client(head2)
    assert token_client.get("/api/v1/me/").status_code == 200
    StepUp.objects.create(user=head2, verified_at=timezone.now(), purpose="sign", device="x")
    browser = _page_client(head2)

    with django_capture_on_commit_callbacks(execute=True):
        changed = browser.post(
            "/accounts/password_change/",
            {
                "old_password": "demo-pass-2026",
                "new_password1": "Lamyai-Orchard-93",
                "new_password2": "Lamyai-Orchard-93",
            },
        )

    assert changed.status_code == 302
    assert not Token.objects.filter(user=head2).exists()
    assert token_client.get("/api/v1/me/").status_code in (401, 403)
    assert other_browser.get("/api/v1/me/").status_code in (401, 403)
    assert browser.get("/api/v1/me/").status_code == 200  # the session that changed it stays signed in
    assert not StepUp.objects.filter(user=head2).exists()
    assert Event.objects.filter(action="accounts.password_changed", target_id=str(head2.pk)).exists()
    revoked = Event.objects.filter(action="accounts.credentials_revoked", target_id=str(head2.pk)).latest("pk")
    assert revoked.details["api_tokens"] == 1
    assert [m.to for m in mail.outbox] == [["head2@dsign.example"]]


def test_password_reset_by_link_revokes_the_api_token(personas, django_capture_on_commit_callbacks):
    head3 = personas["head3"]
    api_client_for(head3)
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/password_reset/", {"email": "head3@dsign.example"})
    link = next(line for line in mail.outbox[-1].body.splitlines() if "/reset/" in line).strip()
    path = link[link.index("/accounts/reset/") :]
    form = client.get(path, follow=True)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            form.redirect_chain[-1][0],
            {"new_password1": "Tamarind-Harbour-48", "new_password2": "Tamarind-Harbour-48"},
        )
    assert done.status_code == 302
    assert not Token.objects.filter(user=head3).exists()
    assert [m.to for m in mail.outbox] == [["head3@dsign.example"]]


def test_credentials_revoke_all_keeps_only_the_named_session(personas):
    head1 = personas["head1"]
    keep, drop = _page_client(head1), _page_client(head1)
    api_client_for(head1)

    revoked = services.credentials_revoke_all(user=head1, reason="test", keep_session_key=keep.session.session_key)

    assert revoked == {"api_tokens": 1, "sessions": 1}
    assert keep.get("/api/v1/me/").status_code == 200
    assert drop.get("/api/v1/me/").status_code in (401, 403)


# --- codes minted on the command line ----------------------------------------------------------------


def test_addstatictoken_still_mints_a_usable_code_and_is_audited(personas):
    director = personas["director"]

    call_command("addstatictoken", "director", "-t", "135790", stdout=__import__("io").StringIO())

    event = Event.objects.get(action="accounts.static_token_minted", target_id=str(director.pk))
    assert event.details["device"].startswith("otp_static.staticdevice/")
    assert services.mfa_step_up(user=director, code="135790")


def test_password_policy_refuses_short_common_and_username_passwords(personas):
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    user = User(username="somchai")
    for weak in ["Short-1a", "password1234", "Somchai-2026-xyz"]:
        with pytest.raises(ValidationError):
            validate_password(weak, user)
    validate_password("Lamyai-Orchard-93", user)


def test_no_api_sign_in_shortcut_for_enrolment_after_the_window(personas):
    # An API session opened with the password is a sign-in too: it opens the same short window, no more.
    client = APIClient()
    response = client.post(
        "/api/v1/auth/session/", {"username": "auditor", "password": "demo-pass-2026"}, format="json"
    )
    assert response.status_code == 200
    session = client.session
    session[services.SIGNED_IN_AT_SESSION_KEY] = (timezone.now() - timedelta(hours=1)).timestamp()
    session.save()
    assert client.post("/api/v1/me/mfa/enrol/", {"kind": "totp"}, format="json").status_code == 403
