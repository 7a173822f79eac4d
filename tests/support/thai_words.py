"""Thai words every PDF dsign makes must give back exactly through pdftotext: SARA AM (ำ) alone and under
tone marks, tone marks on upper and lower vowels, stacked marks, and the letters with descenders."""

import subprocess
from pathlib import Path

THAI_TEST_WORDS = (
    "สำนักงาน ผู้อำนวยการ สำเร็จ น้ำ ค้ำ ต่ำ ช้ำ กล้ำ ทำ จำนวน ที่ ปี ป่า ฝ้าย ฐาน ญาติ ฎีกา ฤดู กุ้ง ผู้ใหญ่ ปั้น ซื้อ ไม่ สิ่ง ส่ง"
).split()


def pdftotext(pdf: bytes, tmp_path: Path, *args: str) -> str:
    path = tmp_path / "extract.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", *args, str(path), "-"], check=True, capture_output=True, text=True).stdout


def missing_words(text: str, words=THAI_TEST_WORDS) -> list[str]:
    """The words not found exactly (no Unicode normalisation) in `text`."""
    return [word for word in words if word not in text]
