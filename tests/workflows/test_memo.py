"""The Thai memo renderer: layout, signature areas, Thai text extraction and the locked-down fetcher."""

import datetime
import http.server
import subprocess
import threading
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from core.thai import format_thai_datetime
from tests.support.thai_words import THAI_TEST_WORDS, missing_words
from workflows.memo import (
    Memo,
    MemoResourceRefused,
    SignerBlock,
    memo_fetcher,
    render_memo_pdf,
    sarabun_font_dir,
)

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "static"
A4 = (595.28, 841.89)
BODY_LAST_WORD = "ปิดท้ายเนื้อหา"


def make_memo(**overrides) -> Memo:
    fields = dict(
        department="กองคลัง ฝ่ายพัสดุ",
        reference_no="กค 0401/123",
        date=datetime.date(2026, 11, 22),
        subject="ขออนุมัติจัดซื้อวัสดุสำนักงาน",
        salutation="ผู้อำนวยการ",
        body=(
            "ด้วยฝ่ายพัสดุมีความประสงค์จะจัดซื้อวัสดุเพื่อใช้ในการปฏิบัติงาน รายละเอียดตามสิ่งที่ส่งมาด้วย\n"
            f"จึงเรียนมาเพื่อโปรดพิจารณา {BODY_LAST_WORD}"
        ),
        signers=[
            SignerBlock(full_name="นางสาวสมศรี ใจดี", position="หัวหน้าฝ่ายพัสดุ"),
            SignerBlock(full_name="นายสมชาย รักงาน", position="ผู้อำนวยการกองคลัง"),
        ],
        attachments=["ใบเสนอราคา", "รายการวัสดุ"],
    )
    fields.update(overrides)
    return Memo(**fields)


def render(memo: Memo, *, emblem_path: Path | None = None, static_root: Path = STATIC):
    return render_memo_pdf(
        memo=memo, emblem_path=emblem_path, organisation_name="สำนักงานทดสอบ", static_root=static_root
    )


def pdftotext(pdf: bytes, tmp_path: Path, *args: str) -> str:
    path = tmp_path / "memo.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", *args, str(path), "-"], check=True, capture_output=True, text=True).stdout


def word_boxes(pdf: bytes, tmp_path: Path) -> list[tuple[int, str, float, float, float, float]]:
    """(page, word, xMin, yMin, xMax, yMax) in points with the origin top-left, from pdftotext -bbox."""
    import xml.etree.ElementTree as ET

    xhtml = pdftotext(pdf, tmp_path, "-bbox")
    root = ET.fromstring(xhtml)
    ns = "{http://www.w3.org/1999/xhtml}"
    boxes = []
    for page_index, page in enumerate(root.iter(f"{ns}page")):
        for word in page.iter(f"{ns}word"):
            coords = [float(word.get(k)) for k in ("xMin", "yMin", "xMax", "yMax")]
            boxes.append((page_index, word.text or "", *coords))
    return boxes


@pytest.fixture(scope="module")
def rendered():
    return render(make_memo())


def test_memo_is_a4_pdf_with_author(rendered):
    pdf_bytes, _ = rendered
    assert pdf_bytes.startswith(b"%PDF-")
    with pikepdf.open(__import__("io").BytesIO(pdf_bytes)) as pdf:
        assert len(pdf.pages) >= 1
        for page in pdf.pages:
            x0, y0, x1, y1 = (float(v) for v in page.mediabox)
            assert (x0, y0) == (0, 0)
            assert x1 == pytest.approx(A4[0], abs=0.5) and y1 == pytest.approx(A4[1], abs=0.5)
        assert str(pdf.docinfo["/Author"]) == "สำนักงานทดสอบ"


def test_fonts_are_embedded_sarabun(rendered, tmp_path):
    path = tmp_path / "m.pdf"
    path.write_bytes(rendered[0])
    fonts = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout
    font_lines = fonts.splitlines()[2:]
    assert font_lines and all("Sarabun" in line and " yes yes yes " in line for line in font_lines)


def test_one_signature_area_per_signer_inside_page_below_body(rendered, tmp_path):
    pdf_bytes, areas = rendered
    assert len(areas) == 2
    words = word_boxes(pdf_bytes, tmp_path)
    last_body = next(w for w in words if w[1] == BODY_LAST_WORD)
    for area in areas:
        assert 0 <= area.x1 < area.x2 <= A4[0] and 0 <= area.y1 < area.y2 <= A4[1]
        # Room for a signature: at least 5 cm wide and 1.5 cm high.
        assert area.x2 - area.x1 > 140 and area.y2 - area.y1 > 42
        if area.page == last_body[0]:
            assert A4[1] - area.y2 >= last_body[5] - 0.5, "signature area overlaps the body"
        # Nothing is printed for a seat before it is signed: its stamp is its whole block.
        for signer in make_memo().signers:
            assert not any(signer.full_name.split()[1] in w[1] or signer.position in w[1] for w in words)
        for word in words:
            if word[0] == area.page:
                x1, top, x2, bottom = word[2:]
                assert not (x1 < area.x2 and area.x1 < x2 and A4[1] - bottom < area.y2 and area.y1 < A4[1] - top)
    first, second = areas
    assert first.page != second.page or first.x2 <= second.x1 or first.y1 >= second.y2, "areas overlap"


def test_long_memo_flows_to_more_pages_and_areas_follow(tmp_path):
    paragraphs = [f"ย่อหน้าที่ {n} ข้อความทดสอบการขึ้นหน้าใหม่ของบันทึกข้อความภาษาไทย" * 3 for n in range(40)]
    pdf_bytes, areas = render(make_memo(body="\n".join([*paragraphs, BODY_LAST_WORD])))
    with pikepdf.open(__import__("io").BytesIO(pdf_bytes)) as pdf:
        page_count = len(pdf.pages)
    assert page_count >= 2
    last_body = next(w for w in word_boxes(pdf_bytes, tmp_path) if w[1] == BODY_LAST_WORD)
    assert len(areas) == 2
    for area in areas:
        assert last_body[0] <= area.page < page_count
        assert area.page > last_body[0] or A4[1] - area.y2 >= last_body[5] - 0.5


def test_thai_words_extract(rendered, tmp_path):
    # -raw keeps content order; poppler's default reading-order mode splits "ส่ง" in the attachments table.
    text = pdftotext(rendered[0], tmp_path, "-raw")
    for word in ("บันทึกข้อความ", "ส่วนราชการ", "กองคลัง", "ฝ่ายพัสดุ", "ที่", "วันที่", "เรื่อง", "เรียน"):
        assert word in text
    assert "22 พฤศจิกายน 2569" in text
    assert "สิ่งที่ส่งมาด้วย" in text and "ใบเสนอราคา" in text
    # Exactly as typed, ำ included (WeasyPrint alone extracts "สำนักงาน" as "สานักงาน").
    for word in ("สำนักงาน", "ผู้อำนวยการ"):
        assert word in text


def test_thai_marks_survive_extraction(tmp_path):
    pdf_bytes, _ = render(make_memo(body="\n".join(THAI_TEST_WORDS), subject=" ".join(THAI_TEST_WORDS)))
    assert missing_words(pdftotext(pdf_bytes, tmp_path)) == []
    # -raw keeps content order; poppler puts a space inside some stacked clusters there ("ปั้ น").
    raw_lines = {"".join(line.split()) for line in pdftotext(pdf_bytes, tmp_path, "-raw").splitlines()}
    assert [w for w in THAI_TEST_WORDS if w not in raw_lines] == []


def test_a_tier_of_three_sits_in_one_row_and_a_single_seat_on_the_right():
    signers = [SignerBlock(full_name=f"นาย ก{n}", position="ผู้อำนวยการกอง", tier=1) for n in range(3)]
    signers.append(SignerBlock(full_name="นาย ข", position="ผู้อำนวยการ", tier=2))
    _, areas = render(make_memo(signers=signers))
    heads, director = areas[:3], areas[3]
    assert len({(a.page, a.y1, a.y2) for a in heads}) == 1
    assert heads[0].x2 <= heads[1].x1 and heads[1].x2 <= heads[2].x1
    assert director.y2 <= heads[0].y1 and director.x1 > A4[0] / 2 - 10


@pytest.mark.parametrize("external, height_cm", [(False, 1.5), (True, 3.0)])
def test_emblem_is_1_5_cm_on_a_memo_and_3_cm_on_an_external_letter(external, height_cm, tmp_path):
    pdf_bytes, _ = render(make_memo(external=external))
    path = tmp_path / "m.pdf"
    path.write_bytes(pdf_bytes)
    subprocess.run(["pdftoppm", "-gray", "-r", "300", "-singlefile", "-png", str(path), str(tmp_path / "p")])
    page = Image.open(tmp_path / "p.png")
    px = 300 / 2.54
    # Above the first field (ส่วนราชการ) only the emblem is drawn: at the left on a memo (the heading is
    # further right), centred on an external letter (no heading).
    right = 18.0 if external else 6.0
    strip = page.crop((int(2.5 * px), int(1.2 * px), int(right * px), int((1.6 + height_cm) * px)))
    left = strip.point(lambda v: 255 if v < 128 else 0)
    box = left.getbbox()
    assert box is not None
    assert (box[3] - box[1]) / px == pytest.approx(height_cm, abs=0.05)


def test_urgency_and_confidentiality_are_printed(tmp_path):
    text = pdftotext(render(make_memo(urgency="ด่วนที่สุด", confidentiality="ลับที่สุด"))[0], tmp_path)
    assert "ด่วนที่สุด" in text and text.count("ลับที่สุด") == 2  # top and bottom of the page


def test_thai_date_uses_buddhist_era():
    assert format_thai_datetime(datetime.date(2026, 11, 22)) == "22 พฤศจิกายน 2569"
    assert format_thai_datetime(datetime.date(2027, 1, 1)) == "1 มกราคม 2570"


class CountingHandler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802
        CountingHandler.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args):
        pass


@pytest.fixture
def http_target():
    CountingHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_markup_in_memo_text_is_literal_and_fetches_nothing(http_target, tmp_path):
    payloads = [
        f'<img src="{http_target}/img.png">',
        f'<link rel="stylesheet" href="{http_target}/style.css">',
        f"<style>@import url({http_target}/import.css);</style>",
        '<div style="background: url(file:///etc/passwd)">x</div>',
        '<img src="file:///etc/passwd">',
        f'<object data="{http_target}/object"></object>',
    ]
    memo = make_memo(
        subject=payloads[0],
        department=payloads[1],
        body="\n".join(payloads),
        signers=[SignerBlock(full_name=payloads[2], position=payloads[3])],
        attachments=[payloads[4]],
    )
    pdf_bytes, areas = render(memo)
    assert CountingHandler.requests == []
    assert len(areas) == 1
    text = pdftotext(pdf_bytes, tmp_path)
    flat = "".join(text.split())
    for payload in payloads:
        assert "".join(payload.split()) in flat
    assert "root:" not in text


def test_fetcher_refuses_network_data_and_foreign_files(http_target, tmp_path):
    static_root = tmp_path / "static"
    (static_root / "img").mkdir(parents=True)
    (static_root / "img" / "ok.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (static_root / "img" / "escape.txt").symlink_to(secret)
    fetcher = memo_fetcher(allowed_dirs=[static_root, sarabun_font_dir()], allowed_files=[])

    assert fetcher((static_root / "img" / "ok.svg").as_uri()).read().startswith(b"<svg")
    assert fetcher((sarabun_font_dir() / "Sarabun-Regular.ttf").as_uri()).read()[:4] == b"\x00\x01\x00\x00"
    refused = [
        f"{http_target}/x.css",
        "https://127.0.0.1/x.css",
        "ftp://127.0.0.1/x",
        "data:text/css,body{}",
        "file:///etc/passwd",
        secret.as_uri(),
        (static_root / "img" / "escape.txt").as_uri(),
        (static_root / "img" / ".." / ".." / "secret.txt").as_uri(),
        f"file://127.0.0.1{secret}",
        (static_root / "img" / "ok.svg").as_uri() + "?x=1",
    ]
    for url in refused:
        with pytest.raises(MemoResourceRefused):
            fetcher(url)
    assert CountingHandler.requests == []


def test_weasyprint_with_fetcher_loads_nothing_from_raw_html(http_target, tmp_path):
    """Defence in depth: even markup that escaped the template could not reach out."""
    from weasyprint import HTML

    fetcher = memo_fetcher(allowed_dirs=[STATIC], allowed_files=[])
    html = (
        f'<link rel="stylesheet" href="{http_target}/a.css">'
        f"<style>@import url({http_target}/b.css); p {{ background: url(file:///etc/passwd) }}</style>"
        f'<p><img src="{http_target}/c.png"><img src="file:///etc/hostname"></p>'
    )
    HTML(string=html, base_url=STATIC.as_uri() + "/", url_fetcher=fetcher).write_pdf()
    assert CountingHandler.requests == []
    assert len(fetcher.refused) >= 5 and fetcher.refused == fetcher.requested


def test_custom_emblem_outside_static_is_embedded(tmp_path):
    emblem = tmp_path / "emblem.png"
    Image.new("RGB", (40, 44), (200, 0, 0)).save(emblem)
    pdf_bytes, _ = render(make_memo(), emblem_path=emblem)
    path = tmp_path / "m.pdf"
    path.write_bytes(pdf_bytes)
    images = subprocess.run(["pdfimages", "-list", str(path)], check=True, capture_output=True, text=True).stdout
    assert len(images.splitlines()) == 3 and " 40    44 " in images


def test_missing_static_emblem_renders_without_emblem(tmp_path):
    pdf_bytes, areas = render(make_memo(), static_root=tmp_path)
    assert pdf_bytes.startswith(b"%PDF-") and len(areas) == 2
