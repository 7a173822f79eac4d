"""The verification QR code and short link, stamped on the first page before anyone signs.

The stamp goes into the version a route starts with, so every signature covers it: whoever holds the
paper copy can scan it (or type the link) to reach the public verification page of that document.

Where: the top-right corner of the first page, inside the memo's margins (dsign's memo has a 1.5 cm top
and a 2 cm right margin, see templates/memo/memo.css): the QR code in the corner, its top-right corner
8 pt below the page's top edge and 13 pt left of its right edge (``QR_SIZE`` square), the link to its left
in the top margin. ``STAMP_AREA`` is that reserved area; nothing else dsign places goes there.

How: WeasyPrint draws the stamp (the QR code as SVG paths, the link in Sarabun, embedded) on a page the
size of the area, with exact text (core.pdftext); pikepdf places that page on the document's first page
as a form XObject. Vector, so it prints sharp at any size; embedded fonts, so the PDF/A-3 archive copy's
claim still holds.
"""

from __future__ import annotations

import io
from html import escape

import pikepdf

__all__ = ["QR_SIZE", "STAMP_AREA", "StampRefused", "qr_stamp", "stamp_area"]

QR_SIZE = 44.0
STAMP_WIDTH, STAMP_HEIGHT = 300.0, QR_SIZE
TOP_GAP, RIGHT_GAP = 8.0, 13.0
# (from the right edge, from the top edge) of the reserved rectangle: width × height in points
STAMP_AREA = (RIGHT_GAP, TOP_GAP, STAMP_WIDTH, STAMP_HEIGHT)


class StampRefused(ValueError):
    """The PDF cannot take the stamp (no pages, unreadable)."""


def stamp_area(*, page_width: float, page_height: float) -> tuple[float, float, float, float]:
    """The reserved rectangle [x1, y1, x2, y2] (PDF points, origin bottom-left) on a page of this size."""
    x2, y2 = page_width - RIGHT_GAP, page_height - TOP_GAP
    return (x2 - STAMP_WIDTH, y2 - STAMP_HEIGHT, x2, y2)


def _qr_svg(url: str) -> str:
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=2)
    code.add_data(url)
    code.make(fit=True)
    matrix = code.get_matrix()  # includes the quiet zone (border)
    size = len(matrix)
    path = "".join(f"M{x},{y}h1v1h-1z" for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{QR_SIZE}pt" '
        f'height="{QR_SIZE}pt" shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path d="{path}" fill="#000"/></svg>'
    )


def _stamp_pdf(*, url: str, label: str) -> bytes:
    from weasyprint import HTML

    from core.fonts import thai_font_path
    from core.pdftext import write_pdf

    font = thai_font_path(weight="Regular")
    html = f"""<!DOCTYPE html><html lang="th"><head><meta charset="utf-8"><style>
      @font-face {{ font-family: "DsignStamp"; src: url("{font.as_uri()}"); }}
      @page {{ size: {STAMP_WIDTH}pt {STAMP_HEIGHT}pt; margin: 0; }}
      html, body {{ margin: 0; font-family: "DsignStamp"; }}
      .row {{ display: flex; justify-content: flex-end; align-items: center; height: {STAMP_HEIGHT}pt; }}
      .text {{ text-align: right; font-size: 6.5pt; line-height: 1.25; margin-right: 3pt; color: #000; }}
      svg {{ display: block; }}
    </style></head><body><div class="row"><div class="text">{escape(label)}<br>{escape(url)}</div>
    {_qr_svg(url)}</div></body></html>"""

    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class _FontOnly(URLFetcher):
        def __init__(self):
            super().__init__(allowed_protocols=("file",), allow_redirects=False)

        def fetch(self, request_url, headers=None):
            if request_url != font.as_uri():
                raise ValueError(f"the stamp reads no other resource: {request_url[:100]}")
            return URLFetcherResponse(request_url, body=font.read_bytes())

    return write_pdf(HTML(string=html, url_fetcher=_FontOnly()).render())


def qr_stamp(*, pdf: bytes, url: str, label: str = "ตรวจสอบเอกสารฉบับนี้ทางออนไลน์") -> bytes:
    """`pdf` with the verification QR code of `url` and the link placed in the reserved area of page 1."""
    stamp = _stamp_pdf(url=url, label=label)
    try:
        document = pikepdf.open(io.BytesIO(pdf))
    except pikepdf.PdfError as exc:
        raise StampRefused(f"cannot read the PDF: {exc}") from exc
    with document, pikepdf.open(io.BytesIO(stamp)) as stamp_document:
        if not document.pages:
            raise StampRefused("the PDF has no pages")
        page = document.pages[0]
        x1, y1, x2, y2 = (float(v) for v in page.mediabox)
        area = stamp_area(page_width=x2 - x1, page_height=y2 - y1)
        rect = pikepdf.Rectangle(x1 + area[0], y1 + area[1], x1 + area[2], y1 + area[3])
        page.add_overlay(stamp_document.pages[0], rect)
        out = io.BytesIO()
        document.save(out)
    return out.getvalue()
