"""Renders a Thai government memo (บันทึกข้อความ) to PDF and reports where its signature areas are.

Owns the memo data shape, the Thai date format, the locked-down resource fetcher WeasyPrint uses (memo text
comes from users, so the renderer must never read files or reach the network on their behalf), and the
conversion of WeasyPrint's layout boxes into PDF rectangles for the signature boxes.
Needs no Django settings: templates are rendered with a standalone Django template engine.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from django.template import Context, Engine

from core.pdftext import write_pdf
from core.thai import format_thai_datetime

__all__ = [
    "Memo",
    "MemoResourceRefused",
    "SignatureArea",
    "SignerBlock",
    "memo_fetcher",
    "render_memo_pdf",
    "sarabun_font_dir",
]

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "memo"
DEFAULT_EMBLEM = Path("img") / "garuda.svg"

# WeasyPrint lays out in CSS px (1/96 in); PDF user space is in points (1/72 in).
PX_TO_PT = 72 / 96

# Weights of the vendored Sarabun (static/fonts/sarabun) that the memo uses.
SARABUN_FACES = (("Regular", "normal", 400), ("Bold", "normal", 700))
FONT_FAMILY = "DsignSarabun"


@dataclass
class SignerBlock:
    """A seat of the route. Nothing of it is printed: its signature's stamp is its block."""

    full_name: str
    position: str
    tier: int = 1


@dataclass
class Memo:
    department: str
    reference_no: str
    date: datetime.date
    subject: str
    salutation: str
    body: str
    signers: list[SignerBlock] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    urgency: str = ""  # the Thai label: ด่วนที่สุด, ด่วนมาก, ด่วน
    confidentiality: str = ""  # ลับที่สุด, ลับมาก, ลับ
    external: bool = False  # หนังสือภายนอก: the ครุฑ 3 cm and centred, no บันทึกข้อความ heading


MAX_COLUMNS = 3


class SignatureArea(NamedTuple):
    """A reserved signature rectangle: 0-based page index and PDF points, origin bottom-left."""

    page: int
    x1: float
    y1: float
    x2: float
    y2: float


class MemoResourceRefused(ValueError):
    """The memo renderer was asked for a resource outside the allowed files."""


def sarabun_font_dir() -> Path:
    from core.fonts import SARABUN_DIR

    return SARABUN_DIR


def memo_fetcher(*, allowed_dirs: list[Path], allowed_files: list[Path]):
    """A WeasyPrint URL fetcher that serves only local files inside `allowed_dirs` or listed exactly.

    Everything else (other file URLs, http(s), ftp, data:) raises, so WeasyPrint skips the resource.
    Paths are resolved before the check, so `..` and symlinks cannot step outside.
    """
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    roots = [d.resolve() for d in allowed_dirs]
    files = {f.resolve() for f in allowed_files}

    class _AllowListFetcher(URLFetcher):
        def __init__(self):
            # No handlers are registered: fetch() below never falls back to urllib's openers.
            super().__init__(allowed_protocols=("file",), allow_redirects=False)
            self.requested: list[str] = []
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            self.requested.append(url)
            path = _local_path(url)
            if path is None or not (path in files or any(path.is_relative_to(r) for r in roots)):
                self.refused.append(url)
                raise MemoResourceRefused(f"memo renderer refuses {url[:200]!r}")
            if not path.is_file():
                self.refused.append(url)
                raise MemoResourceRefused(f"no such file: {path}")
            return URLFetcherResponse(path.as_uri(), body=path.read_bytes())

    return _AllowListFetcher()


def _local_path(url: str) -> Path | None:
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        return None
    if parts.query or parts.fragment:
        return None
    return Path(url2pathname(unquote(parts.path))).resolve()


def _font_face_css(*, font_dir: Path) -> str:
    # A private family name, so a system font called "Sarabun" can never be picked instead of these files.
    rules = []
    for face, style, weight in SARABUN_FACES:
        url = (font_dir / f"Sarabun-{face}.ttf").resolve().as_uri()
        rules.append(
            f'@font-face {{ font-family: "{FONT_FAMILY}"; src: url("{url}"); '
            f"font-style: {style}; font-weight: {weight}; }}"
        )
    return "\n".join(rules)


def _paragraphs(*, body: str) -> list[str]:
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line.strip() for line in lines if line.strip()]


def _tiers(*, signers: list[SignerBlock]) -> list[dict]:
    """Seat indexes grouped by tier, in order, with the number of boxes a row of that tier holds."""
    groups: list[dict] = []
    for index, signer in enumerate(signers):
        if not groups or groups[-1]["tier"] != signer.tier:
            groups.append({"tier": signer.tier, "seats": []})
        groups[-1]["seats"].append(index)
    for group in groups:
        group["columns"] = min(len(group["seats"]), MAX_COLUMNS)
    return groups


def _render_html(*, memo: Memo, emblem_url: str | None, organisation_name: str) -> str:
    engine = Engine(dirs=[str(TEMPLATE_DIR)], autoescape=True)
    context = Context(
        {
            "memo": memo,
            "thai_date": format_thai_datetime(memo.date),
            "paragraphs": _paragraphs(body=memo.body),
            "attachment_count": len(memo.attachments),
            "tiers": _tiers(signers=memo.signers),
            "emblem_url": emblem_url,
            "organisation_name": organisation_name,
        },
        # Localised number formatting would read Django settings, which this module must not need.
        use_l10n=False,
        use_tz=False,
        autoescape=True,  # memo fields are user text: never markup
    )
    return engine.get_template("memo.html").render(context)


def _signature_areas(*, document) -> list[SignatureArea]:
    found: dict[int, SignatureArea] = {}
    for page_index, page in enumerate(document.pages):
        page_height_pt = page.height * PX_TO_PT
        for box in page._page_box.descendants():
            element = getattr(box, "element", None)
            if element is None or box.element_tag != "div" or box.border_width() <= 0:
                continue
            slot_id = element.get("id") or ""
            if not slot_id.startswith("signature-slot-"):
                continue
            index = int(slot_id.removeprefix("signature-slot-"))
            if index in found:
                continue  # a box split over two pages keeps its first part
            x1 = box.border_box_x() * PX_TO_PT
            x2 = (box.border_box_x() + box.border_width()) * PX_TO_PT
            top = box.border_box_y() * PX_TO_PT
            bottom = (box.border_box_y() + box.border_height()) * PX_TO_PT
            found[index] = SignatureArea(
                page=page_index,
                x1=round(x1, 2),
                y1=round(page_height_pt - bottom, 2),
                x2=round(x2, 2),
                y2=round(page_height_pt - top, 2),
            )
    return [found[i] for i in sorted(found)]


def render_memo_pdf(
    *,
    memo: Memo,
    emblem_path: Path | None,
    organisation_name: str,
    static_root: Path,
) -> tuple[bytes, list[SignatureArea]]:
    """Render `memo` to PDF bytes plus one signature rectangle per signer, in signer order.

    `emblem_path` None uses the placeholder emblem under `static_root` (img/garuda.svg) when present.
    Only files under `static_root`, the Sarabun font directory and the emblem file itself can be read.
    """
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    if emblem_path is None and (static_root / DEFAULT_EMBLEM).is_file():
        emblem_path = static_root / DEFAULT_EMBLEM
    font_dir = sarabun_font_dir()
    fetcher = memo_fetcher(
        allowed_dirs=[static_root, font_dir],
        allowed_files=[emblem_path] if emblem_path else [],
    )
    html_text = _render_html(
        memo=memo,
        emblem_url=emblem_path.resolve().as_uri() if emblem_path else None,
        organisation_name=organisation_name,
    )
    font_config = FontConfiguration()
    stylesheets = [
        CSS(string=_font_face_css(font_dir=font_dir), url_fetcher=fetcher, font_config=font_config),
        CSS(
            string=(TEMPLATE_DIR / "memo.css").read_text(encoding="utf-8"),
            url_fetcher=fetcher,
            font_config=font_config,
        ),
    ]
    # base_url points at a directory the fetcher allows, so a stray relative URL cannot escape it either.
    document = HTML(string=html_text, base_url=static_root.resolve().as_uri() + "/", url_fetcher=fetcher).render(
        font_config=font_config, stylesheets=stylesheets
    )
    pdf_bytes = write_pdf(document)
    return pdf_bytes, _signature_areas(document=document)
