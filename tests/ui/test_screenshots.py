"""`make screenshots`: regenerates docs/screenshots/ (inbox, inbox and a document on a phone, composer with boxes,
the returned document, decided by me, timeline, verify).

Skipped unless DSIGN_SCREENSHOTS=1; the guides in docs/ show these pictures.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import make_otp
from tests.ui.conftest import sign_in
from workflows import services
from workflows.models import WorkflowTemplate

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.hsm,
    pytest.mark.skipif(os.environ.get("DSIGN_SCREENSHOTS") != "1", reason="set DSIGN_SCREENSHOTS=1 (make screenshots)"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

MEMO_FIELDS = {
    "government_unit": "กองคลัง สำนักงานปลัดกระทรวง โทร. ๐ ๒๑๒๓ ๔๕๖๗",
    "reference": "กค ๐๒๐๑/๑๒๓",
    "addressee": "ผู้อำนวยการ",
    "body": (
        "ด้วยกองคลังมีความจำเป็นต้องจัดซื้อเครื่องคอมพิวเตอร์และเครื่องพิมพ์ จำนวน ๑๒ รายการ "
        "เพื่อทดแทนครุภัณฑ์เดิมที่ชำรุดและหมดอายุการใช้งาน ซึ่งได้ตรวจสอบแล้วว่าไม่คุ้มค่าแก่การซ่อมแซม\n"
        "จึงเรียนมาเพื่อโปรดพิจารณาอนุมัติ"
    ),
}


def memo_pdf(personas) -> tuple[bytes, dict]:
    """The memo as the composer renders it (workflows.memo), with the seats' signature blocks."""
    from datetime import date

    from django.conf import settings

    from workflows.memo import Memo, SignerBlock, render_memo_pdf

    signers = [personas[name] for name in ("head1", "head2", "head3", "director")]
    memo = Memo(
        department=MEMO_FIELDS["government_unit"],
        reference_no=MEMO_FIELDS["reference"],
        date=date(2026, 11, 22),
        subject="ขออนุมัติจัดซื้อครุภัณฑ์สำนักงาน",
        salutation=MEMO_FIELDS["addressee"],
        body=MEMO_FIELDS["body"],
        signers=[SignerBlock(full_name=u.full_name_th, position=u.position) for u in signers],
    )
    pdf, areas = render_memo_pdf(
        memo=memo,
        emblem_path=None,
        organisation_name="สำนักงานปลัดกระทรวงตัวอย่าง",
        static_root=settings.BASE_DIR / "static",
    )
    placements = {
        user.username: {"page": area.page, "box": [area.x1, area.y1, area.x2, area.y2]}
        for user, area in zip(signers, areas, strict=True)
    }
    return pdf, placements


def test_screenshots(live_server, open_page, personas, tmp_path):
    from branding.models import Branding

    OUT.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    # seed_demo already made the one branding row (fixtures/demo_branding.json): name it.
    Branding.objects.update_or_create(
        pk=Branding.objects.values_list("pk", flat=True).first() or 1,
        defaults={"organisation_name": "สำนักงานปลัดกระทรวงตัวอย่าง", "organisation_name_en": "Example Ministry"},
    )
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = "B-T"
    template.save()
    pdf, placements = memo_pdf(personas)
    titles = ["ขออนุมัติจัดซื้อครุภัณฑ์สำนักงาน", "ขออนุมัติเดินทางไปราชการ จังหวัดเชียงใหม่", "รายงานผลการดำเนินงานประจำไตรมาส"]
    documents = [
        services.route_start(
            title=title, pdf=pdf, template=template, actor=personas["requester"], placements=placements
        )
        for title in titles
    ]

    head1 = open_page(width=1280, height=760)
    sign_in(head1, base, "head1")
    head1.get_by_label("เลือกทั้งหมด").check()
    head1.screenshot(path=str(OUT / "inbox.png"))
    phone = open_page(width=390, height=844)
    sign_in(phone, base, "head2")
    phone.screenshot(path=str(OUT / "inbox-phone.png"), full_page=True)

    requester = open_page(width=1280, height=1000)
    sign_in(requester, base, "requester")
    requester.goto(f"{base}/documents/new/")
    requester.get_by_label("ร่างบันทึกข้อความ").check()
    requester.get_by_label("เรื่อง", exact=True).fill("ขออนุมัติจัดซื้อครุภัณฑ์สำนักงาน")
    requester.get_by_label("ส่วนราชการ").fill(MEMO_FIELDS["government_unit"])
    requester.get_by_label("ที่", exact=True).fill(MEMO_FIELDS["reference"])
    requester.get_by_label("เรียน", exact=True).fill(MEMO_FIELDS["addressee"])
    requester.get_by_label("ข้อความ", exact=True).fill(MEMO_FIELDS["body"])
    requester.get_by_role("button", name="ถัดไป: วางตำแหน่งลายมือชื่อ").click()
    requester.wait_for_selector('#composer-pages[data-ready="1"]')
    requester.locator(".sigbox").last.scroll_into_view_if_needed()
    requester.screenshot(path=str(OUT / "composer.png"))

    make_otp(personas["head1"], "121212")
    head1.goto(f"{base}/documents/{documents[0].pk}/")
    head1.get_by_role("button", name="อนุมัติและลงนาม").click()
    head1.get_by_label("รหัส OTP").fill("121212")
    head1.wait_for_selector(".messages li.success")

    # The signer's moment on a phone: the decision card on the first screen, the memo at the page's width.
    phone.goto(f"{base}/documents/{documents[1].pk}/")
    phone.wait_for_selector(".pdf-page canvas")
    phone.screenshot(path=str(OUT / "document-phone.png"))
    services.decision_return(document=documents[2], actor=personas["head1"], comment="กรุณาแนบใบเสนอราคาเพิ่มเติม")
    requester.goto(f"{base}/documents/{documents[2].pk}/")
    requester.wait_for_selector(".pdf-page canvas")
    requester.screenshot(path=str(OUT / "resubmit.png"))
    head1.goto(f"{base}/documents/decided/")
    head1.screenshot(path=str(OUT / "decided.png"))

    requester.goto(f"{base}/documents/{documents[0].pk}/")
    requester.wait_for_selector(".pdf-page canvas")
    requester.locator("#timeline", has_text="ลงลายมือชื่อแล้ว").wait_for()  # no string eval under the CSP
    requester.screenshot(path=str(OUT / "timeline.png"))

    with requester.expect_download() as download:
        requester.get_by_role("link", name="ดาวน์โหลด PDF").click()
    signed = tmp_path / "signed.pdf"
    download.value.save_as(signed)
    requester.goto(f"{base}/verify/")
    requester.get_by_label("ไฟล์ PDF ที่จะตรวจสอบ").set_input_files(str(signed))
    requester.get_by_role("button", name="ตรวจสอบลายมือชื่อ", exact=True).click()
    requester.wait_for_selector("#verdict")
    assert re.search("ถูกต้อง", requester.locator("#verdict").inner_text())
    requester.screenshot(path=str(OUT / "verify.png"), full_page=True)
