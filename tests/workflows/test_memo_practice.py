"""A memo composed through the API and completed through the real pipeline (HSM keys, django-q2 jobs), as a
Thai office writes it (issue 20, acceptance 1 and 2): one block per signature (comment, signature, name,
position, Buddhist-era date) in the free space below the body, each name once, nothing for the head who was
not needed, a tier's blocks on one page, the ครุฑ 1.5 cm; and every Thai test word extracts exactly."""

from __future__ import annotations

import io
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pikepdf
import pytest
from django.core.management import call_command
from django.utils import timezone
from PIL import Image

from signing.models import PadesLevel
from tests.conftest import api_client_for
from tests.support.thai_words import THAI_TEST_WORDS, missing_words, pdftotext
from tests.workflows.helpers import approve, detail, latest_file
from workflows.models import Document, DocumentVersion, WorkflowTemplate

pytestmark = [pytest.mark.hsm, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CLOSING = "จึงเรียนมาเพื่อโปรดพิจารณา"
COMMENTS = {"head1": "เห็นควรอนุมัติ", "head3": "เห็นชอบตามเสนอ มอบกองคลังดำเนินการ", "director": "อนุมัติ"}
CM = 72 / 2.54


@pytest.fixture
def fast_templates(db):
    """B-B: the document completes when the last signature is in (no TSA round trip for the test)."""
    WorkflowTemplate.objects.filter(code__in=["memo-2-tier", "memo-proposer"]).update(pades_level=PadesLevel.B_B)


def memo_post(user, *, workflow: str = "memo-2-tier", title: str = "ขออนุมัติจัดซื้อวัสดุสำนักงาน", **memo):
    fields = {
        "department": "กองคลัง ฝ่ายพัสดุ",
        "subject": title,
        "to": "ผู้อำนวยการ",
        "body": f"ด้วยฝ่ายพัสดุมีความประสงค์จะจัดซื้อวัสดุสำนักงานเพื่อใช้ในการปฏิบัติงาน\n{CLOSING}",
        **memo,
    }
    return api_client_for(user).post(
        "/api/v1/documents/", {"title": title, "workflow": workflow, "memo": fields}, format="json"
    )


def words(pdf: bytes, tmp_path: Path) -> list[tuple[int, str, float, float, float, float]]:
    """(page, word, x1, y1, x2, y2) from `pdftotext -bbox`, in PDF points with the origin bottom-left."""
    root = ET.fromstring(pdftotext(pdf, tmp_path, "-bbox"))
    ns = "{http://www.w3.org/1999/xhtml}"
    found = []
    for index, page in enumerate(root.iter(f"{ns}page")):
        height = float(page.get("height"))
        for word in page.iter(f"{ns}word"):
            x1, top, x2, bottom = (float(word.get(k)) for k in ("xMin", "yMin", "xMax", "yMax"))
            found.append((index, word.text or "", x1, height - bottom, x2, height - top))
    return found


def intersects(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def seats(document: dict) -> dict[str, dict]:
    return {seat["signer"]: seat for tier in document["tiers"] for seat in tier["assignments"]}


def emblem_height_cm(pdf: bytes, tmp_path: Path) -> float:
    """The printed height of the drawing in the emblem's corner of page 1 (left margin, above the fields)."""
    path = tmp_path / "emblem.pdf"
    path.write_bytes(pdf)
    dpi = 300
    subprocess.run(["pdftoppm", "-gray", "-r", str(dpi), "-f", "1", "-l", "1", "-png", str(path), str(tmp_path / "p")])
    page = Image.open(next(tmp_path.glob("p*.png")))
    px = dpi / 2.54
    corner = page.crop((int(2.5 * px), int(1.0 * px), int(6.0 * px), int(3.3 * px)))
    corner = corner.point(lambda v: 255 if v < 128 else 0)
    box = corner.getbbox()
    assert box is not None, "no emblem drawn"
    return (box[3] - box[1]) / px


def test_memo_2_tier_signed_by_two_of_three_heads_and_the_director_reads_as_a_thai_memo(
    personas, fast_templates, tmp_path
):
    created = memo_post(personas["requester"])
    assert created.status_code == 201, created.content
    document_id = created.json()["id"]
    boxes = {name: seat["box"] for name, seat in seats(created.json()).items()}
    # Every seat has its box before the first signature (the signature fields are made from them).
    assert set(boxes) == {"head1", "head2", "head3", "director"} and all(boxes.values())
    original = latest_file(personas["requester"], document_id)

    for name in ("head1", "head3", "director"):
        response = approve(personas[name], document_id, comment=COMMENTS[name])
        assert response.status_code == 202, response.content
    final = detail(personas["requester"], document_id)
    assert final["status"] == "completed", final
    assert seats(final)["head2"]["status"] == "not_needed"
    signed = latest_file(personas["requester"], document_id)
    text = pdftotext(signed, tmp_path)

    # Three blocks, each name exactly once, comments printed; nothing of the head who was not needed.
    assert text.count("ลงนามเมื่อ") == 3, text
    for name in ("head1", "head3", "director"):
        person = personas[name]
        assert text.count(person.full_name_th) == 1, (person.full_name_th, text)
        # A comment wider than its block wraps at a word boundary onto the next line.
        assert "".join(COMMENTS[name].split()) in "".join(text.split()), text
    head2 = personas["head2"]
    assert head2.first_name_th not in text and head2.last_name_th not in text and head2.position not in text
    assert "(" not in pdftotext(original, tmp_path), "the unsigned memo prints no name block"

    # No block over the memo's text: the boxes lie in the free space below the body, apart from each other.
    body = words(original, tmp_path)
    closing = next(w for w in body if w[1].startswith("จึงเรียน"))
    used = {name: (seats(final)[name]["page"], boxes[name]) for name in ("head1", "head3", "director")}
    for name, (page, box) in used.items():
        for word in body:
            assert not (word[0] == page and intersects(box, word[2:])), (name, word)
        assert page > closing[0] or box[3] <= closing[3], f"{name}'s block is above the closing line"
        inside = [w for w in words(signed, tmp_path) if w[0] == page and w[1] and intersects(box, w[2:])]
        assert any(personas[name].last_name_th in w[1] for w in inside), (name, inside)
    for a in used:
        for b in used:
            assert a == b or used[a][0] != used[b][0] or not intersects(used[a][1], used[b][1])
    # A short memo: each tier's blocks (and here both tiers) on the closing line's page.
    assert {page for page, _ in used.values()} == {closing[0]}
    heads_row = {round(boxes[n][3]) for n in ("head1", "head2", "head3")}
    assert len(heads_row) == 1 and boxes["director"][3] <= min(heads_row)

    assert emblem_height_cm(signed, tmp_path) == pytest.approx(1.5, abs=0.05)


def test_originator_signs_first_where_the_template_says_so(personas, fast_templates, tmp_path):
    created = memo_post(personas["requester"], workflow="memo-proposer")
    assert created.status_code == 201, created.content
    document = created.json()
    assert [seat["signer"] for seat in document["tiers"][0]["assignments"]] == ["requester"]
    assert approve(personas["head1"], document["id"]).status_code == 403  # not before the originator
    for name in ("requester", "head1", "director"):
        assert approve(personas[name], document["id"], comment="เรียนเพื่อโปรดพิจารณา").status_code == 202
    assert detail(personas["requester"], document["id"])["status"] == "completed"
    text = pdftotext(latest_file(personas["requester"], document["id"]), tmp_path)
    for name in ("requester", "head1", "director"):
        assert text.count(personas[name].full_name_th) == 1, text
    proposer, head, director = (text.index(personas[n].full_name_th) for n in ("requester", "head1", "director"))
    assert proposer < head < director


def test_memo_stamps_and_monthly_report_give_back_every_thai_test_word(personas, fast_templates, tmp_path):
    half = len(THAI_TEST_WORDS) // 2
    created = memo_post(
        personas["requester"],
        title=" ".join(THAI_TEST_WORDS[:half]),
        body="\n".join(["สำนักงาน ผู้อำนวยการ", *THAI_TEST_WORDS, CLOSING]),
    )
    assert created.status_code == 201, created.content
    document_id = created.json()["id"]
    memo = latest_file(personas["requester"], document_id)
    assert missing_words(pdftotext(memo, tmp_path)) == []

    comment = " ".join(THAI_TEST_WORDS)
    for name in ("head1", "head2", "director"):
        assert approve(personas[name], document_id, comment=comment).status_code == 202
    assert detail(personas["requester"], document_id)["status"] == "completed"
    signed = latest_file(personas["requester"], document_id)
    assert missing_words(pdftotext(signed, tmp_path)) == []
    # The stamps alone: the words read from inside the director's block (its comment) are every test word.
    director_seat = seats(detail(personas["requester"], document_id))["director"]
    inside = " ".join(
        w[1]
        for w in words(signed, tmp_path)
        if w[0] == director_seat["page"] and intersects(director_seat["box"], w[2:])
    )
    assert missing_words(inside) == [], inside

    today = timezone.localdate().isoformat()
    call_command("monthly_report", "--from", today, "--to", today, "--out", str(tmp_path / "report"))
    report = (tmp_path / "report" / f"report-{today}_{today}.pdf").read_bytes()
    text = pdftotext(report, tmp_path)
    assert missing_words(text, [*THAI_TEST_WORDS[:half], "สำนักงาน", "ผู้อำนวยการ", "สำเร็จ"]) == [], text
    assert "เหตุการณ์ที่ไม่สำเร็จ" in text  # a tone mark over a vowel, anchored left of it, in typed order


def test_memo_pages_are_a4_and_the_version_is_the_rendered_memo(personas, fast_templates):
    created = memo_post(personas["requester"], urgency="most_urgent", confidentiality="")
    assert created.status_code == 201, created.content
    version = DocumentVersion.objects.get(document_id=created.json()["id"])
    with pikepdf.open(io.BytesIO(version.file.read())) as pdf:
        assert [round(float(v)) for v in pdf.pages[0].mediabox] == [0, 0, 595, 842]
    assert Document.objects.get(pk=created.json()["id"]).urgency == "most_urgent"
