"""The PDF of a report: HTML rendered by WeasyPrint with Sarabun, fetching nothing but local files."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from branding.selectors import EMAIL_LOGO_TYPES, branding_get
from core.fonts import thai_font_path
from core.pdftext import write_pdf

from .charts import bar_chart_svg


class LocalFilesOnly(URLFetcher):
    """Refuses every URL except file: URLs inside the given directories (the font, static files).

    The report shows user-supplied text (titles, names); even if some of it ended up as markup, the
    renderer must not reach the network or read other files.
    """

    def __init__(self, *, roots: list[Path], files: list[Path] = ()):
        super().__init__(allowed_protocols={"file"}, fail_on_errors=False)
        self.roots = [root.resolve() for root in roots]
        self.files = {file.resolve() for file in files}

    def fetch(self, url, headers=None):
        if not url.startswith("file:"):
            raise ValueError(f"refused (not a local file): {url}")
        response = URLFetcherResponse(url, b"")
        path = Path(response.path).resolve()
        allowed = path in self.files or any(path.is_relative_to(root) for root in self.roots)
        if not allowed or not path.is_file():
            raise ValueError(f"refused (outside the font and static directories): {url}")
        return URLFetcherResponse(url, path.read_bytes())


def _roots(font: Path) -> list[Path]:
    roots = [font.parent]
    for static in [*getattr(settings, "STATICFILES_DIRS", []), getattr(settings, "STATIC_ROOT", None)]:
        if static:
            roots.append(Path(static))
    return roots


def report_pdf_render(*, period, data: dict, counts: dict, filters: dict, generated_at) -> bytes:
    font = thai_font_path(weight="Regular")
    brand = branding_get()
    # The uploaded (or configured) logo: a raster file, read by the fetcher from its own directory only.
    logo = brand.logo_path if brand.logo_path and brand.logo_path.suffix.lower() in EMAIL_LOGO_TYPES else None
    bold = thai_font_path(weight="Bold")
    charts = {
        "signatures": bar_chart_svg(
            bars=[(f"{day:%d}", n) for day, n in data["signatures_per_day"]],
            title="ลายมือชื่อต่อวัน / signatures per day",
        ),
        "tiers": bar_chart_svg(
            bars=[(f"ลำดับ {order}", hours) for order, _, hours in data["time_per_tier"]],
            title="เวลาเฉลี่ยต่อลำดับขั้น (ชั่วโมง) / average hours per tier",
            height=200,
        ),
        "transactions": bar_chart_svg(
            bars=[(f"{day:%d}", n) for day, n in data["transactions_per_day"]],
            title="รายการเอกสารต่อวัน / document events per day",
        ),
    }
    html = render_to_string(
        "reports/monthly.html",
        {
            "period": period,
            "first_day": period.first_day,
            "last_day": period.last_day,
            "font_url": font.as_uri(),
            "logo_url": logo.resolve().as_uri() if logo else "",
            "organisation_name": brand.name,
            "bold_font_url": bold.as_uri(),
            "data": data,
            "counts": counts,
            "filters": filters,
            "charts": charts,
            "generated_at": generated_at,
            "transactions_truncated": counts.get("transactions", 0) > len(data["transactions"]),
            "failed_events_truncated": counts.get("failed_events", 0) > len(data["failed_events"]),
        },
    )
    document = HTML(
        string=html, base_url=None, url_fetcher=LocalFilesOnly(roots=_roots(font), files=[logo] if logo else [])
    ).render()
    return write_pdf(document)
