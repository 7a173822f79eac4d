"""Reads of the branding: for pages (context processor), e-mails and the memo renderer.

Unset fields fall back to the settings (`ORGANIZATION_NAME`, `ORGANIZATION_LOGO`) and to the bundled
placeholder logo and emblem, so a fresh installation is usable before anyone opens admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.templatetags.static import static

from .models import Branding

DEFAULT_LOGO = "branding/logo.svg"
DEFAULT_EMBLEM = Path(__file__).resolve().parent.parent / "static" / "img" / "garuda.svg"
EMAIL_LOGO_TYPES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}


@dataclass(frozen=True)
class Brand:
    name: str
    name_en: str
    logo_url: str
    logo_path: Path | None
    emblem_path: Path


def _default_name() -> str:
    return getattr(settings, "ORGANIZATION_NAME", "") or getattr(settings, "CA_ORGANIZATION", "") or "dsign"


def _default_logo_path() -> Path | None:
    configured = getattr(settings, "ORGANIZATION_LOGO", "")
    return Path(configured) if configured and Path(configured).is_file() else None


def branding_get() -> Brand:
    row = Branding.objects.filter(pk=1).first()
    name = (row.organisation_name if row else "") or _default_name()
    if row and row.logo and Path(row.logo.path).is_file():
        logo_path = Path(row.logo.path)
    else:
        logo_path = _default_logo_path()
    emblem_path = Path(row.emblem.path) if row and row.emblem and Path(row.emblem.path).is_file() else DEFAULT_EMBLEM
    return Brand(
        name=name,
        name_en=(row.organisation_name_en if row else "") or name,
        logo_url=row.logo.url if row and row.logo and logo_path else static(DEFAULT_LOGO),
        logo_path=logo_path,
        emblem_path=emblem_path,
    )


def email_branding() -> tuple[str, tuple[bytes, str] | None]:
    """The organisation's name and its logo as (bytes, MIME image subtype) for an inline e-mail image.

    Only PNG and JPEG go into e-mails (mail clients do not show SVG); otherwise the logo is None.
    """
    brand = branding_get()
    if brand.logo_path is None or brand.logo_path.suffix.lower() not in EMAIL_LOGO_TYPES:
        return brand.name, None
    return brand.name, (brand.logo_path.read_bytes(), EMAIL_LOGO_TYPES[brand.logo_path.suffix.lower()])
