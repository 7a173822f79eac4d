"""Passkeys in a real browser: Chromium's virtual authenticator (CDP WebAuthn domain, CTAP2, internal, with
user verification) enrols a passkey on the MFA page and approves a document whose template requires
passkeys (AAL3), after a TOTP code for it was refused with a Thai message.

WebAuthn needs a secure context and a domain for the RP ID: the pages are opened as http://localhost.
"""

from __future__ import annotations

import time

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import WebAuthnDevice
from audit.models import Event
from tests.conftest import blank_pdf, make_otp
from tests.ui.conftest import sign_in
from workflows import services
from workflows.models import Assignment, WorkflowTemplate

pytestmark = [
    pytest.mark.browser,
    pytest.mark.hsm,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def base(live_server, settings):
    url = live_server.url.replace("127.0.0.1", "localhost")
    settings.WEBAUTHN_RP_ID = "localhost"
    settings.WEBAUTHN_ORIGINS = [url]
    return url


def virtual_authenticator(page) -> tuple[object, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    answer = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, answer["authenticatorId"]


def totp_code(user) -> str:
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def enrol_passkey(page, base: str, username: str, *, code: str) -> tuple[object, str]:
    """Sign in and add a passkey on the MFA page (authorised with `code`); the virtual authenticator holds it."""
    cdp, authenticator_id = virtual_authenticator(page)
    sign_in(page, base, username)
    page.goto(f"{base}/accounts/mfa/")
    add = page.locator("#passkey-add-form")
    add.get_by_label("ชื่อพาสคีย์").fill("เครื่องที่ทำงาน")
    add.locator("[name=otp]").fill(code)
    add.get_by_role("button", name="เพิ่มพาสคีย์").click()
    page.wait_for_selector(".messages li.success")
    return cdp, authenticator_id


def passkey_only_template() -> WorkflowTemplate:
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = "B-B"
    template.min_aal = 3
    template.save()
    return template


def test_a_passkey_is_enrolled_and_approves_a_passkey_only_document_that_refused_a_totp_code(
    base, open_page, personas, requests_seen
):
    head1 = personas["head1"]
    template = passkey_only_template()
    document = services.route_start(
        title="ขออนุมัติจัดซื้อครุภัณฑ์", pdf=blank_pdf(1), template=template, actor=personas["requester"]
    )
    make_otp(head1, "112233")

    page = open_page()
    cdp, authenticator_id = enrol_passkey(page, base, "head1", code="112233")
    assert "เครื่องที่ทำงาน" in page.locator("table.devices").inner_text()
    assert "พาสคีย์" in page.locator("table.devices").inner_text()
    device = WebAuthnDevice.objects.get(user=head1)
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
    assert len(credentials) == 1 and credentials[0]["rpId"] == "localhost"

    page.goto(f"{base}/documents/{document.pk}/")
    page.get_by_label("ความเห็นหรือเหตุผล").fill("เห็นชอบ")
    page.get_by_role("button", name="อนุมัติและลงนาม").click()
    assert "ต้องอนุมัติด้วยพาสคีย์" in page.locator("#passkey-required").inner_text()
    page.get_by_label("รหัส OTP").fill(totp_code(head1))  # six digits submit by themselves
    page.wait_for_selector("#otp-error")
    assert "พาสคีย์" in page.locator("#otp-error").inner_text()
    assert Assignment.objects.get(document=document, signer=head1).status == "pending"
    assert page.get_by_label("ความเห็นหรือเหตุผล").input_value() == "เห็นชอบ"

    page.get_by_role("button", name="ใช้พาสคีย์").click()
    page.wait_for_selector(".messages li.success")
    seat = Assignment.objects.get(document=document, signer=head1)
    assert seat.status in ("approved", "signed") and seat.comment == "เห็นชอบ"
    approved = Event.objects.filter(action="document.approved", actor_repr="head1").first()
    assert approved.details["aal"] == 3
    device.refresh_from_db()
    assert device.last_used_at is not None
    assert not [url for url in requests_seen if "localhost" not in url and not url.startswith(("data:", "blob:"))]


def test_the_inbox_batch_dialog_approves_passkey_only_documents_with_one_passkey(base, open_page, personas):
    head1 = personas["head1"]
    template = passkey_only_template()
    documents = [
        services.route_start(
            title=f"ขออนุมัติเดินทาง ครั้งที่ {n}", pdf=blank_pdf(1), template=template, actor=personas["requester"]
        )
        for n in (1, 2)
    ]
    make_otp(head1, "445566")
    page = open_page()
    enrol_passkey(page, base, "head1", code="445566")

    page.goto(f"{base}/inbox/")
    page.locator("#select-all").check()
    assert page.locator("#batch-count").inner_text() == "2"
    page.locator("#batch-open").click()
    page.get_by_label("ความเห็น").fill("เห็นชอบทั้งสองเรื่อง")
    page.locator("#batch-passkey").click()
    page.wait_for_selector("#batch-done", timeout=60_000)

    seats = Assignment.objects.filter(document__in=documents, signer=head1)
    assert sorted(seat.status for seat in seats) == ["signed", "signed"]
    assert {seat.comment for seat in seats} == {"เห็นชอบทั้งสองเรื่อง"}
    approved = Event.objects.filter(action="document.approved", actor_repr="head1")
    assert approved.count() == 2 and {event.details["aal"] for event in approved} == {3}
    # The answer served that one request: the dialog asks again (a code or the passkey) for the next batch.
    assert page.locator("#batch-form [name=webauthn]").input_value() == ""
