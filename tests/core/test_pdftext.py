"""Exact Thai text in WeasyPrint PDFs: ToUnicode from the font itself, SARA AM as ActualText."""

import io
import subprocess
from pathlib import Path

import pikepdf
import pytest
from PIL import ImageChops
from weasyprint import HTML

from core.fonts import thai_font_path
from core.pdftext import mark_sara_am, write_pdf
from tests.support.thai_words import THAI_TEST_WORDS, missing_words, pdftotext

LAKSAMAN = Path("/usr/share/fonts/truetype/tlwg/Laksaman.ttf")


def _html(font: Path, words) -> str:
    lines = "".join(f"<p>{w}</p>" for w in words)
    sizes = "".join(f'<p style="font-size:{s}pt">{" ".join(words)}</p>' for s in (9, 14, 20))
    return (
        f'<style>@font-face {{ font-family: T; src: url("{font.as_uri()}"); }} body {{ font-family: T; }}</style>'
        f"<body>{lines}{sizes}</body>"
    )


@pytest.mark.parametrize("font", [thai_font_path(), LAKSAMAN], ids=["sarabun", "laksaman"])
def test_every_thai_word_extracts_exactly(font, tmp_path):
    if not font.is_file():
        pytest.skip(f"{font} is not installed")
    pdf = write_pdf(HTML(string=_html(font, THAI_TEST_WORDS)).render())
    if font == LAKSAMAN:
        # The fallback font draws marks over tall letters with left-shifted glyphs; poppler's reading-order
        # mode then splits or reorders them by position ("ป่ า", "สิง่"). In content order every
        # character is exact (checked with -raw below).
        assert missing_words(pdftotext(pdf, tmp_path), ["สำนักงาน", "ผู้อำนวยการ", "น้ำ", "ต่ำ"]) == []
    else:
        assert missing_words(pdftotext(pdf, tmp_path)) == []
        assert missing_words(pdftotext(pdf, tmp_path, "-layout")) == []
    # -raw keeps content order but poppler puts a space inside some stacked clusters ("ปั้ น").
    raw = {"".join(line.split()) for line in pdftotext(pdf, tmp_path, "-raw").splitlines()}
    assert [w for w in THAI_TEST_WORDS if w not in raw] == []


def test_weasyprint_alone_gets_sara_am_wrong(tmp_path):
    """The fault this module exists for: without it, สำนักงาน is not found."""
    pdf = HTML(string=_html(thai_font_path(), ["สำนักงาน", "ผู้อำนวยการ"])).write_pdf()
    assert missing_words(pdftotext(pdf, tmp_path), ["สำนักงาน", "ผู้อำนวยการ"]) != []


def test_drawing_is_unchanged_and_existing_actual_text_is_kept(tmp_path):
    html = _html(thai_font_path(), ["น้ำ", "สำนักงาน", "abc"])
    document = HTML(string=html).render()
    plain = document.write_pdf()
    fixed = write_pdf(document)
    assert _pixels(plain, tmp_path / "a") == _pixels(fixed, tmp_path / "b")
    # A second pass finds every run already inside an ActualText span and changes nothing.
    again = mark_sara_am(fixed)
    with pikepdf.open(io.BytesIO(fixed)) as a, pikepdf.open(io.BytesIO(again)) as b:
        assert a.pages[0].Contents.read_bytes() == b.pages[0].Contents.read_bytes()


def _pixels(pdf: bytes, stem: Path) -> bytes:
    path = stem.with_suffix(".pdf")
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-gray", "-r", "60", "-singlefile", str(path), str(stem)], check=True)
    return stem.with_suffix(".pgm").read_bytes()


@pytest.mark.parametrize("size", [8, 10, 12, 16])
def test_a_tone_mark_anchored_a_hair_left_of_its_vowel_still_reads_in_typed_order(size, tmp_path):
    """Sarabun puts ่ over ี in "ณ์ที่" 1.3/1000 em left of the vowel; poppler's reading order then wrote
    "ท่ี". The mark is moved to just right of the vowel (invisible), nothing else moves."""
    words = ["เหตุการณ์ที่ไม่สำเร็จ", "ณ์ที่", "การณ์ที่"]
    html = (
        f'<style>@font-face {{ font-family: T; src: url("{thai_font_path().as_uri()}"); }} '
        f"body {{ font-family: T; font-size: {size}pt; }}</style>" + "".join(f"<p>{w}</p>" for w in words)
    )
    document = HTML(string=html).render()
    plain = document.write_pdf()
    assert missing_words(pdftotext(plain, tmp_path), words) != []  # the fault, without the fix
    fixed = write_pdf(document)
    assert missing_words(pdftotext(fixed, tmp_path), words) == []
    # Drawn the same but for anti-aliasing at the marks' edges (a 0.002 em shift).
    before, after = (_image(pdf, tmp_path / name) for pdf, name in ((plain, "a"), (fixed, "b")))
    changed = sum(1 for value in ImageChops.difference(before, after).get_flattened_data() if value > 8)
    assert changed <= 12 * len(words)


def _image(pdf: bytes, stem: Path):
    from PIL import Image

    _pixels(pdf, stem)
    return Image.open(stem.with_suffix(".pgm"))
