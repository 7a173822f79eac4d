"""Acceptance 19.3: every office page, in Thai, shows no English to the person reading it.

A real browser walks each page (desktop and phone width) and reads the visible text (`innerText`, so hidden
dialogs and attributes do not count); every Latin word must be on the allow-list of proper names,
abbreviations and identifiers that Thai offices write in Latin letters too.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import blank_pdf, make_otp
from tests.ui.conftest import sign_in
from tests.ui.test_browser import approve
from workflows import services
from workflows.models import WorkflowTemplate

pytestmark = [
    pytest.mark.browser,
    pytest.mark.hsm,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Proper names, abbreviations and formats written in Latin letters in Thai text as well.
ALLOWED = {
    "dsign",
    "PDF",
    "OTP",
    "SMS",
    "SHA",
    "AES",
    "HSM",
    "PAdES",
    "PKCS",
    "CA",
    "CRL",
    "OCSP",
    "TSA",
    "QR",
    "MFA",
    "API",
    "PNG",
    "JPEG",
    "MB",
    "KB",
    "Microsoft",
    "Authenticator",
    "Google",
    "Entra",
    "ID",
    "AD",
    "LDAP",
    "B-B",
    "B-T",
    "B-LT",
    "B-LTA",
    "A-3",
    "PDF/A",
    "ETA",
    "CN",
    "Sig",
    "DocTS",
    "ไทย",
    "English",
    "memo-2-tier",
    "Example",
    "Ministry",
    # assurance levels are designations of ETDA's and NIST SP 800-63's guidance, shown as written there
    "IAL1",
    "IAL2",
    "IAL3",
    "AAL1",
    "AAL2",
    "AAL3",
}
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-/]*")
# Identifiers a person may need to copy: hashes, serial numbers, e-mail addresses, usernames, file names.
IDENTIFIER = re.compile(r"\b[0-9a-f]{8,}…?|\S+@\S+|\b[\w.-]+\.(pdf|png|jpg)\b|\*\*\*\S*", re.I)


def english_words(text: str, names: set[str]) -> list[str]:
    text = IDENTIFIER.sub(" ", text)
    found = []
    for word in LATIN_WORD.findall(text):
        bare = word.strip("-/")
        if bare in ALLOWED or bare in names or bare.split("-")[0] in ALLOWED or len(bare) <= 1:
            continue
        found.append(word)
    return found


def visible_text(page) -> str:
    return page.evaluate("document.body.innerText")


def walk(page, base: str, paths: list[str], names: set[str]) -> dict[str, list[str]]:
    leaks = {}
    for path in paths:
        page.goto(f"{base}{path}")
        page.wait_for_load_state("networkidle")
        words = english_words(visible_text(page), names)
        if words:
            leaks[path] = sorted(set(words))
    return leaks


@pytest.mark.parametrize(
    "size", [{"width": 1366, "height": 768}, {"width": 390, "height": 844}], ids=["desktop", "phone"]
)
def test_every_office_page_in_thai_shows_no_english(live_server, open_page, personas, size, tmp_path):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = "B-B"
    template.save()
    requester = personas["requester"]
    running = services.route_start(title="ขออนุมัติจัดซื้อวัสดุ", pdf=blank_pdf(), template=template, actor=requester)
    returned = services.route_start(title="ขออนุมัติเดินทาง", pdf=blank_pdf(), template=template, actor=requester)
    services.decision_return(document=returned, actor=personas["head1"], comment="แก้ไขวันที่")
    rejected = services.route_start(title="ขอยืมครุภัณฑ์", pdf=blank_pdf(), template=template, actor=requester)
    services.decision_reject(document=rejected, actor=personas["head2"], comment="ไม่มีงบประมาณ")
    from django.conf import settings

    from branding.selectors import branding_get

    # The organisation's own name (and its CAs', "<org> Issuing CA") is a proper name, whatever its letters.
    names = {u.username for u in personas.values()}
    names |= set(branding_get().name.split()) | set(settings.CA_ORGANIZATION.split()) | {"Issuing", "Root"}
    base = live_server.url

    # One signature, made the way a signer makes it (signing cannot run in this thread's event loop).
    head3 = open_page(**size)
    sign_in(head3, base, "head3")
    approve(head3, base, running.pk, make_otp(personas["head3"], "909090"))

    page = open_page(**size)
    page.goto(f"{base}/accounts/login/")
    leaks = (
        {"/accounts/login/": english_words(visible_text(page), names)}
        if english_words(visible_text(page), names)
        else {}
    )
    sign_in(page, base, "requester")
    leaks |= walk(
        page,
        base,
        [
            "/",
            "/documents/",
            "/documents/new/",
            f"/documents/{running.pk}/",
            f"/documents/{returned.pk}/",
            f"/documents/{rejected.pk}/",
            "/verify/",
            "/me/",
            "/accounts/mfa/",
            "/pki/mine/",
        ],
        names,
    )
    signer = open_page(**size)
    sign_in(signer, base, "head1")
    leaks |= {f"head1 {k}": v for k, v in walk(signer, base, ["/inbox/", f"/documents/{running.pk}/"], names).items()}
    # The verify page with a report.
    signed = tmp_path / "signed.pdf"
    with signer.expect_download() as download:
        signer.get_by_role("link", name="ดาวน์โหลด PDF").click()
    download.value.save_as(signed)
    signer.goto(f"{base}/verify/")
    signer.get_by_label("ไฟล์ PDF ที่จะตรวจสอบ").set_input_files(str(signed))
    signer.get_by_role("button", name="ตรวจสอบลายมือชื่อ", exact=True).click()
    signer.wait_for_selector("#verdict")
    words = english_words(visible_text(signer), names)
    if words:
        leaks["verify report"] = sorted(set(words))
    assert leaks == {}, "\n".join(f"{where}: {words}" for where, words in leaks.items())
