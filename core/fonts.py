"""Locating the Thai TrueType fonts that signature appearances are drawn with, and preparing
them once per process for stamping.

Sarabun comes from the PyPI package ``fontpkg-sarabun`` (so it is present wherever the
virtualenv is); Laksaman from Debian's ``fonts-tlwg-laksaman-ttf`` is the fallback.
Fonts are found by file, never by family name, so no font-config lookup can substitute
a font without Thai glyphs.

Stamping speed: pyHanko's ``GlyphAccumulator`` parses the whole font with fontTools and
subsets it for every signature, and most of that time goes into decoding the OpenType
layout tables (GSUB/GPOS) that the embedded subset drops anyway. :func:`stamp_font_factory`
gives a drop-in font engine factory that shapes with HarfBuzz on the complete font (so Thai
marks still stack and shift exactly as before), embeds from a copy with the layout and
hinting tables removed and glyph ids kept, and reuses the embedded subset program for
signatures that need the same glyphs (one signer's stamps differ only in the date, whose
glyphs are always included).
"""

from __future__ import annotations

import functools
import importlib.resources
import io
import threading
import zlib
from collections import OrderedDict
from pathlib import Path

import uharfbuzz as hb
from fontTools import subset, ttLib
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngine, FontEngineFactory
from pyhanko.pdf_utils.font.opentype import CIDFontType2, GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.writer import BasePdfFileWriter

__all__ = ["FontNotFound", "PreparedFontFactory", "StampFont", "stamp_font", "stamp_font_factory", "thai_font_path"]

# Tables a PDF viewer never reads from an embedded TrueType program: layout is already applied
# (glyph ids and positions are in the content stream) and hinting only matters to rasterisers at
# small pixel sizes, which PDF viewers do not use from embedded fonts.
_STRIPPED_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "DSIG", "fpgm", "prep", "cvt ", "hdmx", "VDMX", "LTSH")
# Text every stamp may contain whatever the signer: digits, month names and labels of the date
# line (see signing.appearance). Their glyphs are always embedded, so the subset of one signer's
# stamps does not change from minute to minute and can be reused.
_DATE_TEXT = (
    "0123456789 :.,()-/ ลงนามเมื่อ Signed เวลา น. มกราคม กุมภาพันธ์ มีนาคม เมษายน พฤษภาคม มิถุนายน "
    "กรกฎาคม สิงหาคม กันยายน ตุลาคม พฤศจิกายน ธันวาคม"
)
_SUBSET_CACHE_SIZE = 256

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


class StampFont:
    """One font prepared for stamping: the full font for shaping, a lean parsed copy for metrics
    and embedding, and the embedded subsets made so far (shared by the signatures of this process).
    Everything here is read-only after construction except the subset cache, which is locked."""

    def __init__(self, *, path: str, shaping_bytes: bytes, embedding_bytes: bytes, always_text: str):
        self.path = path
        self.embedding_bytes = embedding_bytes
        # HarfBuzz fonts are immutable once built and safe to shape with from several threads.
        self.hb_font = hb.Font(hb.Face(shaping_bytes))
        self.tt = ttLib.TTFont(io.BytesIO(embedding_bytes))
        # fontTools parses tables lazily and not thread-safely: load what stamps read, now.
        for tag in ("head", "hhea", "hmtx", "maxp", "OS/2", "post", "name", "cmap", "glyf"):
            self.tt[tag]  # noqa: B018
        self.glyph_set = self.tt.getGlyphSet()
        self.reverse_cmap = self.tt["cmap"].buildReversed()
        self.ps_name = next(n.toUnicode() for n in self.tt["name"].names if n.nameID == 6)
        buffer = hb.Buffer()
        buffer.add_str(always_text)
        buffer.guess_segment_properties()
        hb.shape(self.hb_font, buffer)
        self.always_gids = frozenset(info.codepoint for info in buffer.glyph_infos)
        self._subsets: OrderedDict[frozenset[int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def subset_program(self, gids: frozenset[int]) -> bytes:
        """The Flate-compressed TrueType program holding ``gids`` (ids as in the full font)."""
        key = frozenset(gids) | self.always_gids
        with self._lock:
            cached = self._subsets.get(key)
            if cached is not None:
                self._subsets.move_to_end(key)
                return cached
        tt = ttLib.TTFont(io.BytesIO(self.embedding_bytes))
        options = subset.Options(layout_closure=False)
        options.drop_tables += list(_STRIPPED_TABLES)
        # The content stream addresses glyphs by their id in the full font (CIDToGIDMap /Identity).
        options.retain_gids = True
        subsetter = subset.Subsetter(options=options)
        subsetter.populate(gids=sorted(key))
        subsetter.subset(tt)
        out = io.BytesIO()
        tt.save(out)
        program = zlib.compress(out.getvalue())
        with self._lock:
            self._subsets[key] = program
            while len(self._subsets) > _SUBSET_CACHE_SIZE:
                self._subsets.popitem(last=False)
        return program


@functools.lru_cache(maxsize=8)
def stamp_font(path: str) -> StampFont | None:
    """Prepare the TrueType font at ``path`` once per process; None for fonts this cannot speed
    up (CFF outlines), which are then drawn with pyHanko's own engine."""
    shaping = Path(path).read_bytes()
    tt = ttLib.TTFont(io.BytesIO(shaping))
    if "glyf" not in tt:
        return None
    # Every glyph reachable from the font's characters stays, with its id: coverage is the full
    # font's, only tables that an embedded program does not need are dropped.
    options = subset.Options(layout_closure=True, retain_gids=True, notdef_outline=True, glyph_names=True)
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(unicodes=tt.getBestCmap().keys())
    subsetter.subset(tt)
    for tag in _STRIPPED_TABLES:
        if tag in tt:
            del tt[tag]
    lean = io.BytesIO()
    tt.save(lean)
    return StampFont(path=path, shaping_bytes=shaping, embedding_bytes=lean.getvalue(), always_text=_DATE_TEXT)


class _PreparedCIDFont(CIDFontType2):
    """A CIDFontType2 whose font program is a cached, already-compressed subset."""

    program: bytes = b""

    def set_font_file(self, writer: BasePdfFileWriter):
        stream = generic.StreamObject(
            {generic.pdf_name("/Filter"): generic.pdf_name("/FlateDecode")}, encoded_data=self.program
        )
        ref = writer.add_object(stream)
        self._font_descriptor[generic.pdf_name("/FontFile2")] = ref
        return ref


class _PreparedGlyphAccumulator(GlyphAccumulator):
    """pyHanko's glyph accumulator on a :class:`StampFont`: shapes with the complete font, reads
    metrics from the shared lean copy, embeds a cached subset. Nothing is parsed per signature."""

    def __init__(self, *, writer: BasePdfFileWriter, prepared: StampFont, font_size, bcp47_lang_code, obj_stream):
        # GlyphAccumulator.__init__ would parse the font file again; set up the same state instead
        # (pyHanko 0.38's attributes) from the prepared font.
        FontEngine.__init__(
            self, writer, prepared.ps_name, embedded_subset=True, obj_stream=obj_stream, font_size=font_size
        )
        self._prepared = prepared
        self._font_ref = writer.allocate_placeholder()
        self.hb_font = prepared.hb_font
        self.tt = prepared.tt
        self.cff_charset = None
        self.use_raw_gids = True
        self.cidfont_obj = _PreparedCIDFont(prepared.tt, prepared.ps_name, self.subset_prefix)
        self.features = None
        self.units_per_em = prepared.tt["head"].unitsPerEm
        self._glyphs = {}
        self._glyph_set = prepared.glyph_set
        self._cid_to_unicode = {}
        self._GlyphAccumulator__reverse_cmap = prepared.reverse_cmap
        self.ot_language_tag = None
        self.ot_script_tag = None
        self.writing_direction = None
        self.bcp47_lang_code = bcp47_lang_code
        self._subset_created = self._write_prepared = False

    def _extract_subset(self, options=None):
        self.cidfont_obj.program = self._prepared.subset_program(frozenset(self._glyphs))


class PreparedFontFactory(FontEngineFactory):
    """pyHanko font engine factory drawing with a :class:`StampFont`."""

    def __init__(self, *, prepared: StampFont, font_size: int = 10, bcp47_lang_code: str | None = None):
        self.prepared = prepared
        self.font_size = font_size
        self.bcp47_lang_code = bcp47_lang_code

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream=None) -> GlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs:
            obj_stream = writer.prepare_object_stream()
        return _PreparedGlyphAccumulator(
            writer=writer,
            prepared=self.prepared,
            font_size=self.font_size,
            bcp47_lang_code=self.bcp47_lang_code,
            obj_stream=obj_stream,
        )


def stamp_font_factory(
    *, font_file: str | None = None, bcp47_lang_code: str | None = None, font_size: int = 10
) -> FontEngineFactory:
    """The font engine factory stamps use: a prepared :class:`StampFont` when the font allows
    it, else pyHanko's ``GlyphAccumulatorFactory`` on the same file."""
    path = str(font_file or thai_font_path())
    prepared = stamp_font(path)
    if prepared is None:
        return GlyphAccumulatorFactory(font_file=path, font_size=font_size, bcp47_lang_code=bcp47_lang_code)
    return PreparedFontFactory(prepared=prepared, font_size=font_size, bcp47_lang_code=bcp47_lang_code)
