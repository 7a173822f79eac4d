"""The office pages work under the Content-Security-Policy: pdf.js renders a document, the composer, the
inbox and the batch progress bar run, and Chromium reports no violation."""

from __future__ import annotations

import pytest

from tests.conftest import blank_pdf, make_otp
from tests.ui.conftest import sign_in
from workflows import services
from workflows.models import WorkflowTemplate

pytestmark = [
    pytest.mark.browser,
    pytest.mark.hsm,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Installed before any page script: every violation the browser reports is kept on window.
COLLECT_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def _watch(page) -> list[str]:
    console: list[str] = []
    page.add_init_script(COLLECT_VIOLATIONS)
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    return console


def _violations(page, console: list[str]) -> list[str]:
    return [*page.evaluate("window.__csp || []"), *console]


def test_document_page_with_pdfjs_and_the_other_office_pages_show_no_csp_violation(live_server, open_page, personas):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = "B-B"
    template.save()
    document = services.route_start(title="ทดสอบ CSP", pdf=blank_pdf(2), template=template, actor=personas["requester"])
    make_otp(personas["head1"], "676767")
    page = open_page()
    console = _watch(page)
    sign_in(page, live_server.url, "head1")
    assert _violations(page, console) == []

    response = page.goto(f"{live_server.url}/documents/{document.pk}/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.locator("#pdf canvas").nth(1).wait_for(timeout=30_000)  # both pages painted by pdf.js
    assert page.locator("#pdf canvas").count() == 2
    page.wait_for_timeout(3500)  # one round of the timeline's htmx polling
    assert _violations(page, console) == []

    for path in ("/", "/documents/new/", "/verify/", "/me/"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        assert _violations(page, console) == [], path

    page.goto(f"{live_server.url}/")
    page.get_by_label("เลือกทั้งหมด").check()
    page.get_by_role("button", name="ลงนามที่เลือก").click()
    page.get_by_label("รหัส OTP").fill("676767")
    page.get_by_role("button", name="ลงนาม", exact=True).click()
    page.wait_for_selector("#batch-done", timeout=60_000)
    width = page.locator(".progress > div").evaluate("el => el.style.width")
    assert width == "100%"  # set through the CSSOM from data-percent, no inline style
    assert _violations(page, console) == []
