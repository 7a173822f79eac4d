"""Locating the Thai TrueType fonts that signature appearances are drawn with.

Sarabun comes from the PyPI package ``fontpkg-sarabun`` (so it is present wherever the
virtualenv is); Laksaman from Debian's ``fonts-tlwg-laksaman-ttf`` is the fallback.
Fonts are found by file, never by family name, so no font-config lookup can substitute
a font without Thai glyphs.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

__all__ = ["FontNotFound", "thai_font_path"]

_LAKSAMAN_CANDIDATES = (
    Path("/usr/share/fonts/truetype/tlwg/Laksaman.ttf"),
    Path("/usr/share/fonts/opentype/tlwg/Laksaman.otf"),
)


class FontNotFound(RuntimeError):
    """No usable Thai font is installed."""


def _sarabun_path(*, weight: str) -> Path | None:
    try:
        files = importlib.resources.files("fontpkg_sarabun") / "files"
    except ModuleNotFoundError:
        return None
    candidate = Path(str(files / f"Sarabun-{weight}.ttf"))
    return candidate if candidate.is_file() else None


def thai_font_path(*, weight: str = "Regular") -> Path:
    """Return the path of a TrueType font that has Thai glyphs and OpenType Thai shaping.

    ``weight`` is a Sarabun style name ("Regular", "Bold", ...); the Laksaman fallback
    always gives its regular face.
    """
    sarabun = _sarabun_path(weight=weight)
    if sarabun is not None:
        return sarabun
    for candidate in _LAKSAMAN_CANDIDATES:
        if candidate.is_file():
            return candidate
    raise FontNotFound(
        "No Thai font found: install the PyPI package fontpkg-sarabun or the Debian package fonts-tlwg-laksaman-ttf"
    )
