"""The signer's moment and the requester's loop in a real browser, at desktop and phone width.

Phone = 390×844 (a common handset), desktop = 1366×768.
"""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_static.models import StaticDevice
from playwright.sync_api import expect

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

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}


@pytest.fixture
def template(db):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = "B-B"
    template.save()
    return template


def start(personas, template, title="ขออนุมัติจัดซื้อวัสดุสำนักงาน", pages=2) -> Document:
    return services.route_start(title=title, pdf=blank_pdf(pages), template=template, actor=personas["requester"])


def in_first_screen(page, selector: str) -> bool:
    """Visible without scrolling: the element's box lies inside the viewport at scroll 0."""
    page.evaluate("window.scrollTo(0, 0)")
    box = page.locator(selector).bounding_box()
    viewport = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_signer_approves_at_once_and_a_wrong_code_keeps_the_comment(live_server, open_page, personas, template, size):
    document = start(personas, template)
    make_otp(personas["head1"], "135790")
    page = open_page(**size)
    sign_in(page, live_server.url, "head1")
    page.goto(f"{live_server.url}/documents/{document.pk}/")
    page.wait_for_selector(".pdf-page canvas")
    assert in_first_screen(page, "#approve-open")
    # The document is drawn at the width of its column, not a fixed 318 px.
    column = page.locator("#pdf").bounding_box()["width"]
    assert page.locator(".pdf-page").first.bounding_box()["width"] >= column - 8
    before = page.locator(".pdf-page").first.bounding_box()["width"]
    page.get_by_role("button", name="ขยาย").click()
    # The pages are drawn again at the new size (the container is emptied first; the CSP forbids eval, so
    # the test polls from Python instead of wait_for_function).
    for _ in range(200):
        box = page.locator(".pdf-page").first.bounding_box() if page.locator(".pdf-page").count() else None
        if box and box["width"] > before + 20:
            break
        page.wait_for_timeout(100)
    else:
        raise AssertionError("zooming in did not draw the pages wider")

    page.get_by_label("ความเห็นหรือเหตุผล").fill("เห็นชอบตามเสนอ")
    page.get_by_role("button", name="อนุมัติและลงนาม").click()
    page.get_by_label("รหัส OTP").fill("000000")  # six digits submit by themselves
    page.wait_for_selector("#otp-error")
    assert "รหัสไม่ถูกต้อง" in page.locator("#otp-error").inner_text()
    assert page.locator("#otp-dialog").evaluate("d => d.open")
    assert page.get_by_label("ความเห็นหรือเหตุผล").input_value() == "เห็นชอบตามเสนอ"
    # A wrong code locks the device for a second or more (django-otp throttling); let that pass.
    StaticDevice.objects.filter(user=personas["head1"]).update(throttling_failure_timestamp=None)
    page.get_by_label("รหัส OTP").fill("135790")
    page.wait_for_selector(".messages li.success")
    seat = Assignment.objects.get(document=document, signer__username="head1")
    assert seat.status in ("approved", "signed") and seat.comment == "เห็นชอบตามเสนอ"


def test_reject_asks_for_a_reason_and_a_confirmation(live_server, open_page, personas, template):
    document = start(personas, template)
    page = open_page(**PHONE)
    sign_in(page, live_server.url, "head2")
    page.goto(f"{live_server.url}/documents/{document.pk}/")
    page.get_by_role("button", name="ไม่อนุมัติ", exact=True).click()
    assert not page.locator("#reject-dialog").evaluate("d => d.open")  # no reason yet: nothing happens
    page.get_by_label("ความเห็นหรือเหตุผล").fill("งบประมาณไม่เพียงพอ")
    page.get_by_role("button", name="ไม่อนุมัติ", exact=True).click()
    assert "งบประมาณไม่เพียงพอ" in page.locator("#reject-reason").inner_text()
    page.get_by_role("button", name="ยกเลิก").last.click()
    document.refresh_from_db()
    assert document.status == "in_progress"
    page.get_by_role("button", name="ไม่อนุมัติ", exact=True).click()
    page.get_by_role("button", name="ยืนยันไม่อนุมัติ").click()
    page.wait_for_selector(".messages li.success")
    document.refresh_from_db()
    assert document.status == "rejected"


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_returned_document_is_revised_resubmitted_and_the_tier_decides_again(
    live_server, open_page, personas, template, tmp_path, size
):
    base = live_server.url
    document = start(personas, template, pages=1)
    make_otp(personas["head1"], "112233")
    head1 = open_page(**size)
    sign_in(head1, base, "head1")
    head1.goto(f"{base}/documents/{document.pk}/")
    head1.get_by_label("ความเห็นหรือเหตุผล").fill("กรุณาแก้ไขวันที่ในย่อหน้าที่สอง")
    head1.get_by_role("button", name="ส่งกลับแก้ไข").click()
    head1.wait_for_selector(".messages li.success")
    assert Document.objects.get(pk=document.pk).status == "returned"

    requester = open_page(**size)
    sign_in(requester, base, "requester")
    requester.goto(f"{base}/documents/{document.pk}/")
    assert in_first_screen(requester, "#resubmit h2")
    assert "กรุณาแก้ไขวันที่ในย่อหน้าที่สอง" in requester.locator("#return-reason").inner_text()
    revised = tmp_path / "revised.pdf"
    revised.write_bytes(blank_pdf(2))
    requester.get_by_label("ไฟล์ PDF ฉบับแก้ไข").set_input_files(str(revised))
    requester.get_by_label("สิ่งที่แก้ไข").fill("แก้ไขวันที่แล้ว")
    requester.get_by_role("button", name="ส่งอีกครั้งเพื่อขออนุมัติ").click()
    requester.wait_for_selector(".messages li.success")
    assert "ฉบับที่ 2 · ฉบับแก้ไขโดยผู้ส่ง" in requester.locator("#versions-panel").inner_text()
    assert "ฉบับที่ 1 · ต้นฉบับ" in requester.locator("#versions-panel").inner_text()

    head1.goto(f"{base}/documents/{document.pk}/")
    head1.get_by_role("button", name="อนุมัติและลงนาม").click()
    head1.get_by_label("รหัส OTP").fill("112233")
    head1.wait_for_selector(".messages li.success")
    # The requester's open page follows without a reload: route panel and timeline both move on.
    expect(requester.locator("#route-panel")).to_contain_text("ลงนามแล้ว", timeout=30_000)
    assert "รอบที่ 2" in requester.locator("#route-panel").inner_text()
    assert "แก้ไขและส่งใหม่" in requester.locator("#timeline").inner_text()
