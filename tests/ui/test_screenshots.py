"""`make screenshots`: regenerates docs/screenshots/ (inbox, inbox on a phone, composer with boxes, timeline, verify).

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

MEMO_HTML = """<html><head><style>
@page {{ size: A4; margin: 2cm 2cm 2cm 3cm; }}
@font-face {{ font-family: Sarabun; src: url("{font}"); }}
body {{ font-family: Sarabun; font-size: 16pt; line-height: 1.35; }}
h1 {{ text-align: center; font-size: 29pt; margin: 0 0 12pt; }}
.row {{ border-bottom: 1px dotted #000; margin-bottom: 4pt; }}
p {{ text-indent: 2.5cm; margin: 6pt 0; }}
</style></head><body>
<h1>บันทึกข้อความ</h1>
<div class="row"><b>ส่วนราชการ</b> กองคลัง สำนักงานปลัด โทร. ๐ ๒๑๒๓ ๔๕๖๗</div>
<div class="row"><b>ที่</b> กค ๐๔๐๑/๑๒๓ &nbsp;&nbsp;&nbsp; <b>วันที่</b> ๒๒ พฤศจิกายน ๒๕๖๙</div>
<div class="row"><b>เรื่อง</b> ขออนุมัติจัดซื้อครุภัณฑ์สำนักงาน</div>
<p style="text-indent:0"><b>เรียน</b> ผู้อำนวยการ</p>
<p>ด้วยกองคลังมีความจำเป็นต้องจัดซื้อเครื่องคอมพิวเตอร์และเครื่องพิมพ์ จำนวน ๑๒ รายการ
เพื่อทดแทนครุภัณฑ์เดิมที่ชำรุดและหมดอายุการใช้งาน ซึ่งได้ตรวจสอบแล้วว่าไม่คุ้มค่าแก่การซ่อมแซม</p>
<p>จึงเรียนมาเพื่อโปรดพิจารณาอนุมัติ</p>
</body></html>"""


def memo_pdf() -> bytes:
    from weasyprint import HTML

    from signing.fonts import thai_font_path

    return HTML(string=MEMO_HTML.format(font=thai_font_path().as_uri())).write_pdf()


def test_screenshots(live_server, open_page, personas, tmp_path):
    from branding.models import Branding

    OUT.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    Branding.objects.create(organisation_name="สำนักงานปลัดกระทรวงตัวอย่าง", organisation_name_en="Example Ministry")
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = "B-T"
    template.save()
    pdf = memo_pdf()
    titles = ["ขออนุมัติจัดซื้อครุภัณฑ์สำนักงาน", "ขออนุมัติเดินทางไปราชการ จังหวัดเชียงใหม่", "รายงานผลการดำเนินงานประจำไตรมาส"]
    documents = [
        services.route_start(title=title, pdf=pdf, template=template, actor=personas["requester"]) for title in titles
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
    requester.get_by_label("อัปโหลด PDF").check()
    requester.get_by_label("เรื่อง", exact=True).fill("ขออนุมัติจัดซื้อครุภัณฑ์สำนักงาน")
    path = tmp_path / "memo.pdf"
    path.write_bytes(pdf)
    requester.get_by_label("ไฟล์ PDF").set_input_files(str(path))
    requester.get_by_role("button", name="ถัดไป: วางตำแหน่งลายมือชื่อ").click()
    requester.wait_for_selector('#composer-pages[data-ready="1"]')
    requester.locator(".sigbox").last.scroll_into_view_if_needed()
    requester.screenshot(path=str(OUT / "composer.png"))

    make_otp(personas["head1"], "121212")
    head1.goto(f"{base}/documents/{documents[0].pk}/")
    head1.get_by_role("button", name="อนุมัติและลงนาม").click()
    head1.get_by_label("รหัส OTP").fill("121212")
    head1.get_by_role("button", name="ลงนาม", exact=True).click()
    head1.wait_for_selector(".messages li.success")

    requester.goto(f"{base}/documents/{documents[0].pk}/")
    requester.wait_for_selector(".pdf-page canvas")
    requester.wait_for_function("document.querySelector('#timeline').innerText.includes('ลงลายมือชื่อแล้ว')")
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
