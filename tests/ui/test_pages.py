"""The office pages over HTTP (no browser): each renders for its personas, and the decisions work."""

import re

import pytest

from tests.conftest import blank_pdf
from workflows import services
from workflows.models import Assignment, Document, WorkflowTemplate

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, personas):
    def login(username):
        client.force_login(personas[username])
        return client

    return login


def start(personas, title="บันทึกข้อความ ขออนุมัติจัดซื้อ"):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    return services.route_start(title=title, pdf=blank_pdf(), template=template, actor=personas["requester"])


@pytest.mark.parametrize("path", ["/", "/inbox/", "/documents/", "/documents/new/", "/verify/", "/me/"])
def test_every_office_page_renders_in_thai_with_the_branding(signed_in, path):
    response = signed_in("requester").get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'lang="th"' in html and 'id="brand-logo"' in html
    assert "กล่องเอกสาร" in html  # the Inbox menu item, translated


def test_pages_need_sign_in(client):
    response = client.get("/inbox/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_english_is_one_switch_away(signed_in):
    client = signed_in("requester")
    client.post("/i18n/setlang/", {"language": "en", "next": "/inbox/"})
    html = client.get("/inbox/").content.decode()
    assert 'lang="en"' in html and ">Inbox<" in html


def test_inbox_lists_waiting_documents_oldest_first(signed_in, personas):
    first = start(personas, "เรื่องแรก")
    second = start(personas, "เรื่องที่สอง")
    html = signed_in("head1").get("/inbox/").content.decode()
    assert html.index(first.title) < html.index(second.title)
    assert signed_in("director").get("/inbox/").content.decode().count('name="documents"') == 0


def test_requester_sees_where_the_document_stands(signed_in, personas):
    document = start(personas)
    html = signed_in("requester").get("/documents/").content.decode()
    assert document.title in html and "head1" not in html and personas["head1"].full_name_th in html


def test_compose_signers_lists_each_seat_of_the_template(signed_in):
    body = signed_in("requester").get("/documents/new/signers/?workflow=memo-2-tier").json()
    assert [s["username"] for s in body["signers"]] == ["head1", "head2", "head3", "director"]
    assert [s["tier"] for s in body["signers"]] == [1, 1, 1, 2]


def test_upload_with_moved_boxes_starts_the_route_there(signed_in, personas):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = signed_in("requester")
    response = client.post(
        "/documents/new/",
        {
            "source": "upload",
            "workflow": "memo-2-tier",
            "title": "อัปโหลด",
            "file": SimpleUploadedFile("a.pdf", blank_pdf(2), content_type="application/pdf"),
            "placements": '{"director": {"page": 0, "box": [300, 500, 470, 562]}}',
        },
        HTTP_X_COMPOSER="1",
    )
    assert response.status_code == 200, response.content
    document_id = response.json()["id"]
    seat = Assignment.objects.get(document_id=document_id, signer__username="director")
    assert (seat.page, seat.box) == (0, [300.0, 500.0, 470.0, 562.0])
    head = Assignment.objects.get(document_id=document_id, signer__username="head1")
    assert head.page == 1


def test_a_box_off_the_page_is_refused_with_the_reason(signed_in):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = signed_in("requester").post(
        "/documents/new/",
        {
            "source": "upload",
            "workflow": "memo-2-tier",
            "title": "อัปโหลด",
            "file": SimpleUploadedFile("a.pdf", blank_pdf(), content_type="application/pdf"),
            "placements": '{"director": {"page": 0, "box": [500, 800, 900, 900]}}',
        },
        HTTP_X_COMPOSER="1",
    )
    assert response.status_code == 400 and "อยู่นอกหน้า" in response.json()["detail"]


def test_reject_needs_a_comment_and_ends_the_route(signed_in, personas):
    document = start(personas)
    client = signed_in("head1")
    client.post(f"/documents/{document.pk}/reject/", {"comment": ""})
    document.refresh_from_db()
    assert document.status == "in_progress"
    unconfirmed = client.post(f"/documents/{document.pk}/reject/", {"comment": "งบประมาณไม่พอ"})
    document.refresh_from_db()
    assert document.status == "in_progress" and unconfirmed.status_code == 400
    assert "กรุณายืนยันการไม่อนุมัติ" in unconfirmed.content.decode()
    client.post(f"/documents/{document.pk}/reject/", {"comment": "งบประมาณไม่พอ", "confirm": "1"})
    document.refresh_from_db()
    assert document.status == "rejected"
    html = signed_in("requester").get(f"/documents/{document.pk}/timeline/").content.decode()
    assert "งบประมาณไม่พอ" in html and "hx-trigger" not in html


def test_a_wrong_otp_does_not_approve_and_keeps_the_comment_with_a_thai_message(signed_in, personas, otp):
    document = start(personas)
    otp(personas["head1"])
    response = signed_in("head1").post(
        f"/documents/{document.pk}/approve/",
        {"otp": "000000", "comment": "เห็นชอบตามเสนอ", "sha256": document.versions.get().sha256},
    )
    assert Assignment.objects.get(document=document, signer__username="head1").status == "pending"
    assert response.status_code == 403
    html = response.content.decode()
    assert ">เห็นชอบตามเสนอ</textarea>" in html
    assert "รหัสไม่ถูกต้อง" in html and 'data-open="1"' in html  # the OTP dialog opens again


def test_the_signer_of_an_email_device_gets_a_code_from_the_dialog(signed_in, personas):
    from django.core import mail
    from django_otp.plugins.otp_email.models import EmailDevice

    document = start(personas)
    device = EmailDevice.objects.create(user=personas["head1"], name="อีเมล", confirmed=True)
    client = signed_in("head1")
    html = client.get(f"/documents/{document.pk}/").content.decode()
    assert "ส่งรหัสทางอีเมล" in html and device.persistent_id in html
    sent = client.post("/accounts/mfa/send/", {"device": device.persistent_id})
    assert sent.status_code == 200 and "ส่งรหัสไปที่" in sent.content.decode()
    assert len(mail.outbox) >= 1
    # The stored token is sealed for the signer (issue 16): the code is the one in the e-mail.
    import re

    code = re.search(r"\b(\d{6,8})\b", mail.outbox[-1].body)[1]
    shown = document.versions.get().sha256
    approved = client.post(f"/documents/{document.pk}/approve/", {"otp": code, "sha256": shown})
    assert approved.status_code in (302, 403)  # the code is accepted (403 only without a certificate)
    assert "รหัสไม่ถูกต้อง" not in approved.content.decode()
    # Nobody can make codes go to someone else's device.
    other = signed_in("head2").post("/accounts/mfa/send/", {"device": device.persistent_id})
    assert other.status_code == 404


def test_requester_revises_and_resubmits_a_returned_document_from_its_page(signed_in, personas):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.conftest import blank_pdf as pdf

    document = start(personas)
    services.decision_return(document=document, actor=personas["head2"], comment="แก้ไขวันที่ในย่อหน้าที่สอง")
    head1 = signed_in("head1")
    assert head1.post(f"/documents/{document.pk}/resubmit/", {"comment": "x"}).status_code == 400
    requester = signed_in("requester")
    html = requester.get(f"/documents/{document.pk}/").content.decode()
    assert "เอกสารถูกส่งกลับให้ท่านแก้ไข" in html and "แก้ไขวันที่ในย่อหน้าที่สอง" in html
    response = requester.post(
        f"/documents/{document.pk}/resubmit/",
        {"comment": "แก้ไขวันที่แล้ว", "file": SimpleUploadedFile("v2.pdf", pdf(2), content_type="application/pdf")},
    )
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.status == "in_progress" and document.round == 2
    assert list(document.versions.order_by("number").values_list("kind", flat=True)) == ["original", "revision"]
    html = requester.get(f"/documents/{document.pk}/").content.decode()
    assert "รอบที่ 2" in html and "แก้ไขและส่งใหม่" in html


def test_requester_recalls_from_the_page_with_a_reason(signed_in, personas):
    document = start(personas)
    assert signed_in("head1").post(f"/documents/{document.pk}/recall/", {"reason": "ไม่"}).status_code == 400
    client = signed_in("requester")
    assert client.post(f"/documents/{document.pk}/recall/", {"reason": ""}).status_code == 400
    assert client.post(f"/documents/{document.pk}/recall/", {"reason": "ส่งผิดฉบับ"}).status_code == 302
    document.refresh_from_db()
    assert document.status == "recalled"


def test_the_live_fragment_carries_the_route_panel_and_version(signed_in, personas):
    document = start(personas)
    html = signed_in("head1").get(f"/documents/{document.pk}/timeline/", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="route-panel" hx-swap-oob="true"' in html and 'id="version-info"' in html
    assert "/ in progress" not in html  # one language per badge


def test_outsider_cannot_see_a_document(client, personas, outsider):
    document = start(personas)
    client.force_login(outsider)
    assert client.get(f"/documents/{document.pk}/").status_code == 404
    assert client.get(f"/documents/{document.pk}/timeline/").status_code == 404


def test_signature_image_must_really_be_an_image(signed_in, personas):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = signed_in("head1")
    bad = SimpleUploadedFile("s.png", b"<svg onload=alert(1)>", content_type="image/png")
    client.post("/me/", {"signature_image": bad})
    personas["head1"].refresh_from_db()
    assert not personas["head1"].signature_image
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    client.post("/me/", {"signature_image": SimpleUploadedFile("s.png", png, content_type="image/png")})
    personas["head1"].refresh_from_db()
    assert personas["head1"].signature_image
    assert client.get("/me/signature.png").content == png


COMPOSED_MEMO = {
    "source": "memo",
    "workflow": "memo-2-tier",
    "title": "ขออนุมัติจัดซื้อครุภัณฑ์คอมพิวเตอร์",
    "government_unit": "กองเทคโนโลยีสารสนเทศ โทร. 1234",
    "reference": "ทส 0201/123",
    "addressee": "ผู้อำนวยการ",
    "body": "ด้วยกองเทคโนโลยีสารสนเทศมีความประสงค์จะจัดซื้อครุภัณฑ์คอมพิวเตอร์\nจึงเรียนมาเพื่อโปรดพิจารณาอนุมัติ",
    "urgency": "very_urgent",
}


def test_a_composed_memo_starts_each_box_in_its_signers_signature_block(signed_in, personas):
    import json

    memo_fields = COMPOSED_MEMO
    client = signed_in("requester")
    preview = client.post("/documents/new/preview/", memo_fields, HTTP_X_COMPOSER="1")
    assert preview.status_code == 200 and preview["Content-Type"] == "application/pdf"
    shown = json.loads(preview["X-Signature-Placements"])
    assert set(shown) == {"head1", "head2", "head3", "director"}

    # Without script the page renders the memo itself; the seats land in the same blocks.
    response = client.post("/documents/new/", memo_fields)
    assert response.status_code == 302
    document = Document.objects.get(title=memo_fields["title"])
    assert document.urgency == "very_urgent"
    assert "ด่วนมาก" in client.get("/documents/").content.decode()  # shown on the list
    for seat in document.assignments.select_related("signer"):
        assert (seat.page, seat.box) == (shown[seat.signer.username]["page"], shown[seat.signer.username]["box"])
    boxes = sorted(tuple(s.box) for s in document.assignments.all())
    assert all(a[2] <= b[0] or a[3] <= b[1] or b[3] <= a[1] for a, b in zip(boxes, boxes[1:], strict=False))


def test_a_composed_memo_without_a_number_takes_the_next_from_the_send_register(signed_in, personas, tmp_path):
    import json

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    from core.thai import BUDDHIST_ERA_OFFSET, thai_digits
    from tests.support.thai_words import pdftotext
    from tests.workflows.helpers import latest_file
    from workflows.models import SendRegister

    requester = personas["requester"]
    year = timezone.localdate().year + BUDDHIST_ERA_OFFSET
    SendRegister.objects.create(org_unit=requester.org_unit, year=year, prefix="กค 0401")
    memo_fields = {**COMPOSED_MEMO, "reference": "", "urgency": ""}
    client = signed_in("requester")
    preview = client.post("/documents/new/preview/", memo_fields, HTTP_X_COMPOSER="1")
    shown = json.loads(preview["X-Signature-Placements"])
    assert SendRegister.objects.get(org_unit=requester.org_unit).last_number == 0  # a preview takes no number
    moved = {"director": {"page": shown["director"]["page"], "box": [300, 90, 480, 150]}}
    # The composer posts the preview it showed as `file`, and the boxes the requester moved.
    sent = client.post(
        "/documents/new/",
        {
            **memo_fields,
            "placements": json.dumps(moved),
            "file": SimpleUploadedFile("memo.pdf", preview.content, content_type="application/pdf"),
        },
        HTTP_X_COMPOSER="1",
    )
    assert sent.status_code == 200, sent.content
    document = Document.objects.get(pk=sent.json()["id"])
    assert document.reference_no == f"กค 0401 {thai_digits(1)}/{thai_digits(year)}"
    assert f"กค 0401 ๑/{thai_digits(year)}" in pdftotext(latest_file(requester, document.pk), tmp_path)
    director = document.assignments.get(signer__username="director")
    assert director.box == [300, 90, 480, 150]
    second = client.post("/documents/new/", memo_fields)
    assert second.status_code == 302
    assert Document.objects.latest("pk").reference_no == f"กค 0401 ๒/{thai_digits(year)}"


def test_the_composer_date_field_is_filled_in_thai(signed_in):
    from datetime import date

    html = signed_in("requester").get("/documents/new/").content.decode()
    assert f'type="date" name="memo_date" value="{date.today().isoformat()}"' in html


def test_lists_search_filter_sort_and_page(signed_in, personas):
    titles = [f"ขออนุมัติเดินทาง ครั้งที่ {n}" for n in range(1, 28)] + ["จัดซื้อวัสดุสำนักงาน"]
    documents = [start(personas, title) for title in titles]
    head1 = signed_in("head1")
    first = head1.get("/inbox/").content.decode()
    assert "มีเอกสารรอท่าน 28 ฉบับ" in first and first.count('name="documents"') == 25 and 'id="page-next"' in first
    found = head1.get("/inbox/", {"q": "จัดซื้อ"}).content.decode()
    assert found.count('name="documents"') == 1 and "จัดซื้อวัสดุสำนักงาน" in found
    by_number = head1.get("/inbox/", {"q": f"#{documents[3].pk}"}).content.decode()
    assert by_number.count('name="documents"') == 1 and titles[3] in by_number
    by_requester = head1.get("/inbox/", {"q": personas["requester"].first_name_th}).content.decode()
    assert by_requester.count('name="documents"') == 25
    newest = head1.get("/inbox/", {"sort": "newest"}).content.decode()
    assert newest.index("จัดซื้อวัสดุสำนักงาน") < newest.index("ครั้งที่ 27</a>")
    following = re.search(r'id="page-next" href="\?([^"]+)"', newest).group(1).replace("&amp;", "&")
    second = head1.get(f"/inbox/?{following}").content.decode()
    assert second.count('name="documents"') == 3 and 'href="?sort=newest"' in second and 'id="page-next"' not in second
    assert "ครั้งที่ 1</a>" in second and "ครั้งที่ 1</a>" not in newest
    from tests.conftest import api_client_for

    api = api_client_for(personas["head1"]).get("/api/v1/inbox/", {"q": "จัดซื้อ"}).json()
    assert [item["document"]["title"] for item in api["results"]] == ["จัดซื้อวัสดุสำนักงาน"]

    services.decision_reject(document=documents[0], actor=personas["head1"], comment="ไม่มีงบ")
    mine = signed_in("requester")
    rejected = mine.get("/documents/", {"status": "rejected"}).content.decode()
    assert titles[0] in rejected and titles[1] not in rejected
    assert mine.get("/documents/", {"status": "nonsense", "since": "not a date"}).status_code == 200
    decided = signed_in("head1").get("/documents/decided/").content.decode()
    assert titles[0] in decided and "ไม่อนุมัติ" in decided and titles[1] not in decided
    assert "ไม่มีงบ" not in signed_in("head2").get("/documents/decided/").content.decode()


def test_the_batch_passkey_challenge_refuses_what_the_batch_would_refuse_and_issues_nothing(
    client, signed_in, personas
):
    from django.urls import reverse

    from accounts.models import PasskeyChallenge

    first, second = start(personas, "เรื่องที่ 1"), start(personas, "เรื่องที่ 2")
    shown = {f"sha256_{d.pk}": d.versions.latest("number").sha256 for d in (first, second)}
    url = reverse("office-batch-passkey")
    anonymous = client.post(url, {"documents": [first.pk], **shown})
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]

    nothing = signed_in("head1").post(url, {})
    assert nothing.status_code == 400 and nothing.json()["code"] == "invalid"
    # The director holds no open seat on them: another person's documents are not theirs to ask for.
    others = signed_in("director").post(url, {"documents": [first.pk], **shown})
    assert others.status_code == 400 and others.json()["code"] == "invalid"
    head1 = signed_in("head1")
    # The document changed since the inbox listed it: refused before any challenge is made.
    stale = head1.post(url, {"documents": [first.pk], f"sha256_{first.pk}": "ab" * 32})
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version"
    no_passkey = head1.post(url, {"documents": [first.pk, second.pk], **shown})
    assert no_passkey.status_code == 409 and no_passkey.json()["code"] == "passkey_none"
    assert not PasskeyChallenge.objects.exists()


def test_a_composed_memo_without_a_number_and_no_register_is_refused_and_stores_nothing(client, outsider):
    # Someone in no organisation unit has no send register: a memo without a number cannot be numbered.
    client.force_login(outsider)
    before = Document.objects.count()
    refused = client.post("/documents/new/", {**COMPOSED_MEMO, "reference": ""}, HTTP_X_COMPOSER="1")
    assert refused.status_code == 400
    assert "ไม่มีทะเบียนหนังสือส่ง" in refused.json()["detail"]  # in Thai, saying why
    assert Document.objects.count() == before
