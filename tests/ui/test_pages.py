"""The office pages over HTTP (no browser): each renders for its personas, and the decisions work."""

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
    assert response.status_code == 400 and "outside" in response.json()["detail"]


def test_reject_needs_a_comment_and_ends_the_route(signed_in, personas):
    document = start(personas)
    client = signed_in("head1")
    client.post(f"/documents/{document.pk}/reject/", {"comment": ""})
    document.refresh_from_db()
    assert document.status == "in_progress"
    client.post(f"/documents/{document.pk}/reject/", {"comment": "งบประมาณไม่พอ"})
    document.refresh_from_db()
    assert document.status == "rejected"
    html = signed_in("requester").get(f"/documents/{document.pk}/timeline/").content.decode()
    assert "งบประมาณไม่พอ" in html and "hx-trigger" not in html


def test_a_wrong_otp_does_not_approve(signed_in, personas, otp):
    document = start(personas)
    otp(personas["head1"])
    response = signed_in("head1").post(f"/documents/{document.pk}/approve/", {"otp": "000000"}, follow=True)
    assert Assignment.objects.get(document=document, signer__username="head1").status == "pending"
    assert response.status_code == 200


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


def test_a_composed_memo_starts_each_box_in_its_signers_signature_block(signed_in, personas):
    import json

    memo_fields = {
        "source": "memo",
        "workflow": "memo-2-tier",
        "title": "ขออนุมัติจัดซื้อครุภัณฑ์คอมพิวเตอร์",
        "government_unit": "กองเทคโนโลยีสารสนเทศ โทร. 1234",
        "reference": "ทส 0201/123",
        "addressee": "ผู้อำนวยการ",
        "body": "ด้วยกองเทคโนโลยีสารสนเทศมีความประสงค์จะจัดซื้อครุภัณฑ์คอมพิวเตอร์\nจึงเรียนมาเพื่อโปรดพิจารณาอนุมัติ",
    }
    client = signed_in("requester")
    preview = client.post("/documents/new/preview/", memo_fields, HTTP_X_COMPOSER="1")
    assert preview.status_code == 200 and preview["Content-Type"] == "application/pdf"
    shown = json.loads(preview["X-Signature-Placements"])
    assert set(shown) == {"head1", "head2", "head3", "director"}

    # Without script the page renders the memo itself; the seats land in the same blocks.
    response = client.post("/documents/new/", memo_fields)
    assert response.status_code == 302
    document = Document.objects.get(title=memo_fields["title"])
    for seat in document.assignments.select_related("signer"):
        assert (seat.page, seat.box) == (shown[seat.signer.username]["page"], shown[seat.signer.username]["box"])
    boxes = sorted(tuple(s.box) for s in document.assignments.all())
    assert all(a[2] <= b[0] or a[3] <= b[1] or b[3] <= a[1] for a, b in zip(boxes, boxes[1:], strict=False))
