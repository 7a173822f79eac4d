"""The office UI in a real browser: compose → place boxes → three approvals → download → verify, and batch signing.

Every request the pages make is recorded; none may leave 127.0.0.1 (no CDN, no web fonts).
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import blank_pdf, make_otp
from tests.ui.conftest import sign_in
from workflows import services
from workflows.models import Assignment, Document, WorkflowTemplate

pytestmark = [
    pytest.mark.browser,
    pytest.mark.hsm,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def drag(page, locator, dx: float, dy: float) -> None:
    """Press on the middle of `locator`, move by (dx, dy) screen pixels in a few steps, release."""
    locator.evaluate("element => element.scrollIntoView({block: 'center'})")
    box = locator.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 6):
        page.mouse.move(x + dx * step / 5, y + dy * step / 5)
    page.mouse.up()


def approve(page, base_url: str, document_id: int, code: str) -> None:
    page.goto(f"{base_url}/documents/{document_id}/")
    page.get_by_role("button", name="อนุมัติและลงนาม").click()
    page.get_by_label("รหัส OTP").fill(code)  # six digits submit the dialog by themselves
    page.wait_for_selector(".messages li.success")


def test_compose_place_boxes_three_approvals_download_and_verify(
    live_server, open_page, requests_seen, personas, tmp_path
):
    base = live_server.url
    requester = open_page()
    sign_in(requester, base, "requester")
    requester.get_by_role("link", name="สร้างเอกสาร").click()
    requester.get_by_label("อัปโหลด PDF").check()
    requester.get_by_label("เส้นทางการอนุมัติ").select_option("memo-2-tier")
    requester.get_by_label("เรื่อง", exact=True).fill("ขออนุมัติจัดซื้อครุภัณฑ์สำนักงาน")
    pdf_path = tmp_path / "memo.pdf"
    pdf_path.write_bytes(blank_pdf(2))
    requester.get_by_label("ไฟล์ PDF").set_input_files(str(pdf_path))
    requester.get_by_role("button", name="ถัดไป: วางตำแหน่งลายมือชื่อ").click()
    requester.wait_for_selector('#composer-pages[data-ready="1"]')
    assert requester.locator(".pdf-page canvas").count() == 2
    boxes = requester.locator(".sigbox")
    assert boxes.count() == 4

    # Move the director's box up the last page, then make it wider by its corner.
    director_box = requester.locator('.sigbox[data-signer="director"]')
    before = [float(v) for v in director_box.get_attribute("data-box").split(",")]
    drag(requester, director_box, 120, -250)
    moved = [float(v) for v in director_box.get_attribute("data-box").split(",")]
    assert moved[0] > before[0] + 50 and moved[1] > before[1] + 150  # right and up: PDF y grows upwards
    grip = director_box.locator(".grip")
    drag(requester, grip, 40, 0)
    resized = [float(v) for v in director_box.get_attribute("data-box").split(",")]
    assert resized[2] - resized[0] > moved[2] - moved[0] + 20
    # Keyboard: focus a box and nudge it.
    head1_box = requester.locator('.sigbox[data-signer="head1"]')
    head1_box.focus()
    head1_before = head1_box.get_attribute("data-box")
    requester.keyboard.press("ArrowUp")
    assert head1_box.get_attribute("data-box") != head1_before

    requester.get_by_role("button", name="ส่งขออนุมัติ").click()
    requester.wait_for_url(re.compile(r"/documents/\d+/$"))
    document_id = int(requester.url.rstrip("/").rsplit("/", 1)[1])
    seat = Assignment.objects.get(document_id=document_id, signer__username="director")
    assert seat.page == 1
    assert seat.box == pytest.approx(resized, abs=0.2)
    requester.wait_for_selector(".pdf-page canvas")
    assert "head1" not in requester.locator("#timeline").inner_text()
    assert personas["head1"].full_name_th in requester.locator("#timeline").inner_text()

    for username, code in [("head1", "111111"), ("head2", "222222"), ("director", "333333")]:
        make_otp(personas[username], code)
        signer = open_page()
        sign_in(signer, base, username)
        approve(signer, base, document_id, code)
        if username == "head1":
            # The requester's open page shows the signature without a reload (the timeline polls).
            # (A locator wait: the CSP refuses the string evaluation wait_for_function would use.)
            requester.locator("#timeline", has_text="ลงลายมือชื่อแล้ว").wait_for(timeout=30_000)

    assert Document.objects.get(pk=document_id).status == "completed"
    requester.locator("#document-status", has_text="เสร็จสมบูรณ์").wait_for(timeout=30_000)
    requester.reload()
    with requester.expect_download() as download:
        requester.get_by_role("link", name="ดาวน์โหลด PDF").click()
    signed = tmp_path / "signed.pdf"
    download.value.save_as(signed)
    assert signed.read_bytes().startswith(b"%PDF")

    requester.get_by_role("link", name="ตรวจสอบลายมือชื่อ").click()
    requester.get_by_label("ไฟล์ PDF ที่จะตรวจสอบ").set_input_files(str(signed))
    requester.get_by_role("button", name="ตรวจสอบลายมือชื่อ", exact=True).click()
    verdict = requester.locator("#verdict")
    assert "ลายมือชื่อทั้งหมดถูกต้อง" in verdict.inner_text()
    assert requester.locator(".sig-report .sig").count() == 3

    assert any("pdf.worker.min.mjs" in url for url in requests_seen)
    assert any("Sarabun-Regular.ttf" in url for url in requests_seen)
    assert requests_seen.outside() == []


def test_batch_signing_with_one_otp_and_a_progress_bar(live_server, open_page, requests_seen, personas):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = "B-B"
    template.save()
    documents = [
        services.route_start(
            title=f"หนังสือเวียนฉบับที่ {n}", pdf=blank_pdf(), template=template, actor=personas["requester"]
        )
        for n in range(1, 4)
    ]
    code = make_otp(personas["head2"], "454545")
    page = open_page()
    sign_in(page, live_server.url, "head2")
    assert page.locator('input[name="documents"]').count() == 3
    page.get_by_label("เลือกทั้งหมด").check()
    assert page.locator("#batch-count").inner_text() == "3"
    page.get_by_role("button", name="ลงนามที่เลือก").click()
    page.get_by_label("รหัส OTP").fill(code)
    page.get_by_role("button", name="ลงนาม", exact=True).click()
    page.wait_for_selector("#batch-done", timeout=60_000)
    assert page.get_by_role("progressbar").get_attribute("aria-valuenow") == "100"
    assert page.locator("#batch-percent").inner_text() == "100%"
    statuses = set(
        Assignment.objects.filter(document__in=documents, signer__username="head2").values_list("status", flat=True)
    )
    assert statuses == {"signed"}
    assert requests_seen.outside() == []


def test_a_wrong_batch_otp_signs_nothing(live_server, open_page, personas):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    document = services.route_start(title="ทดสอบรหัสผิด", pdf=blank_pdf(), template=template, actor=personas["requester"])
    make_otp(personas["head3"], "565656")
    page = open_page(width=390, height=844)
    sign_in(page, live_server.url, "head3")
    page.get_by_label("เลือกทั้งหมด").check()
    page.get_by_role("button", name="ลงนามที่เลือก").click()
    page.get_by_label("รหัส OTP").fill("000000")
    page.get_by_role("button", name="ลงนาม", exact=True).click()
    page.wait_for_selector("#batch-error")
    assert Assignment.objects.get(document=document, signer__username="head3").status == "pending"
