"""Exact Thai text in the PDFs dsign makes: `pdftotext`, search and copy give back what was typed.

Three faults are fixed here, once for every WeasyPrint document (memos, reports, evidence):

* WeasyPrint maps a glyph to the text of the cluster it was first seen in, so a glyph shared by several
  clusters extracts as whichever came first (the report PDF loses ำ altogether). :func:`weasyprint_finisher`
  rewrites each font's ToUnicode CMap from the font itself: its cmap and its GSUB substitutions.
* HarfBuzz's Thai shaper decomposes SARA AM (U+0E33) into NIKHAHIT + SARA AA and moves the NIKHAHIT
  before tone marks, and the SARA AA glyph is the same as a plain า. No ToUnicode CMap can tell the two
  apart, so :func:`mark_sara_am` wraps each such glyph run (the base letter, NIKHAHIT, tone marks, SARA AA)
  in a marked-content span with ``/ActualText`` (ISO 32000-1, 14.9.4) holding the typed text.
* A tone mark anchored a hair left of the upper vowel under it (Sarabun's ่ over ี after ณ์) reads before
  the vowel in poppler's reading order ("ท่ี"); :func:`_nudge_stacked_marks` moves it just right of the
  vowel (under 0.004 em) and gives the difference back after it.

Signature stamps come from pyHanko, which writes ``/ActualText`` for every cluster itself; runs already
inside an ``/ActualText`` span are left alone.
"""

from __future__ import annotations

import io
import re
import unicodedata

import pikepdf

__all__ = ["glyph_texts", "mark_sara_am", "weasyprint_finisher", "write_pdf"]

NIKHAHIT = "\u0e4d"
SARA_AA = "\u0e32"
SARA_AM = "\u0e33"
# Marks HarfBuzz moves NIKHAHIT in front of (Thai tone marks).
TONE_MARKS = frozenset("\u0e48\u0e49\u0e4a\u0e4b")
THAI_MARKS = frozenset(
    "\u0e31\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e3a\u0e47\u0e48\u0e49\u0e4a\u0e4b\u0e4c\u0e4d\u0e4e"
)
# Thai presentation forms in the Private Use Area (shifted and tail-less glyphs, as mapped by the
# Microsoft/Apple convention the TLWG fonts follow) and the characters they draw.
_THAI_PUA = dict(
    zip(
        range(0xF700, 0xF71B),
        "\u0e10\u0e34\u0e35\u0e36\u0e37\u0e48\u0e49\u0e4a\u0e4b\u0e4c\u0e48\u0e49\u0e4a\u0e4b\u0e4c"
        "\u0e0d\u0e31\u0e4d\u0e47\u0e48\u0e49\u0e4a\u0e4b\u0e4c\u0e38\u0e39\u0e3a",
        strict=True,
    )
)
# Operators that may sit between the glyphs of one cluster without ending it.
_TEXT_STATE = {"Ts", "Tc", "Tw", "Tz", "TL", "Td", "TD", "Tm", "T*", "gs", "q", "Q", "cm"}


def glyph_texts(*, font_bytes: bytes, font_number: int = 0) -> dict[int, str]:
    """Map each glyph id of a font to the characters it draws, from its cmap and GSUB substitutions.

    NIKHAHIT and SARA AA map to themselves here; :func:`mark_sara_am` joins them back into SARA AM.
    """
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(font_bytes), lazy=True, fontNumber=font_number)
    glyph_ids = {name: font.getGlyphID(name) for name in font.getGlyphOrder()}
    by_glyph: dict[str, str] = {}
    for codepoint, name in sorted((font.getBestCmap() or {}).items()):
        by_glyph.setdefault(name, _THAI_PUA.get(codepoint, chr(codepoint)))
    substitutions: list[tuple[list[str], str]] = []
    if "GSUB" in font and font["GSUB"].table.LookupList:
        for lookup in font["GSUB"].table.LookupList.Lookup:
            for subtable in lookup.SubTable:
                table = subtable.ExtSubTable if lookup.LookupType == 7 else subtable
                if getattr(table, "mapping", None) and table.LookupType == 1:
                    substitutions += [([src], dst) for src, dst in table.mapping.items()]
                if getattr(table, "alternates", None):
                    substitutions += [([src], dst) for src, alts in table.alternates.items() for dst in alts]
                if getattr(table, "ligatures", None):
                    substitutions += [
                        ([first, *lig.Component], lig.LigGlyph)
                        for first, ligs in table.ligatures.items()
                        for lig in ligs
                    ]
    for _ in range(3):  # alternates of ligatures of alternates
        for sources, target in substitutions:
            if target not in by_glyph and all(src in by_glyph for src in sources):
                text = "".join(by_glyph[src] for src in sources)
                if len(text) > 1 and text.startswith(NIKHAHIT):
                    text = text[1:] + NIKHAHIT
                by_glyph[target] = text
    return {glyph_ids[name]: text for name, text in by_glyph.items() if name in glyph_ids}


def weasyprint_finisher(document, pdf) -> None:
    """WeasyPrint ``finisher``: rewrite the ToUnicode CMap of every embedded font from the font itself."""
    import pydyf
    from weasyprint.text.fonts import get_hb_object_data

    font_dicts: dict[str, list] = {}
    for obj in pdf.objects:
        if isinstance(obj, pydyf.Dictionary) and obj.get("Type") == "/Font" and "ToUnicode" in obj:
            font_dicts.setdefault(obj["BaseFont"], []).append(obj)
    # Several WeasyPrint fonts (one face at several sizes) can share one name and one embedded program,
    # each with its own ToUnicode CMap: give all of them the glyphs any of them shows.
    by_name: dict[str, tuple[object, dict[int, str]]] = {}
    for font in document.fonts.values():
        if font.bitmap or font.name not in font_dicts:
            continue
        first, seen = by_name.setdefault(font.name, (font, {}))
        seen.update({g: t for g, t in font.to_unicode.items() if t or g not in seen})
    for name, (font, seen) in by_name.items():
        try:
            # The whole face, with its GSUB (file_content is the embedded subset by now).
            own = glyph_texts(font_bytes=get_hb_object_data(font.hb_face), font_number=font.index or 0)
        except Exception:  # noqa: BLE001 - a font fontTools cannot read keeps WeasyPrint's map
            continue
        entries = []
        for glyph, cluster_text in sorted(seen.items()):
            text = own.get(glyph, cluster_text)
            # Keep WeasyPrint's text where it says the same thing ("fi" rather than the cmap's U+FB01).
            if unicodedata.normalize("NFKC", cluster_text) == unicodedata.normalize("NFKC", text):
                text = cluster_text
            if text:
                entries.append(f"<{glyph:04x}> <{text.encode('utf-16-be').hex()}>".encode())
        body = []
        for start in range(0, len(entries), 100):
            chunk = entries[start : start + 100]
            body += [f"{len(chunk)} beginbfchar".encode(), *chunk, b"endbfchar"]
        for font_dict in font_dicts[name]:
            cmap_stream = pdf.objects[int(font_dict["ToUnicode"].split()[0])]
            lines = list(cmap_stream.stream)
            header = lines[: lines.index(b"endcodespacerange") + 1]
            footer = lines[lines.index(b"endcmap") :]
            cmap_stream.stream = header + body + footer


def write_pdf(document, **options) -> bytes:
    """``document.write_pdf`` with exact Thai text: the finisher above, then :func:`mark_sara_am`."""
    return mark_sara_am(document.write_pdf(finisher=weasyprint_finisher, **options))


# --- SARA AM as ActualText ---------------------------------------------------------------------------

_HEX = re.compile(rb"<([0-9A-Fa-f\s]*)>")


def _to_unicode_map(font: pikepdf.Object) -> dict[int, str] | None:
    """Code → text for a two-byte (Type0) font from its ToUnicode CMap; None for other fonts."""
    if font.get("/Subtype") != "/Type0" or "/ToUnicode" not in font:
        return None
    data = font.ToUnicode.read_bytes()
    mapping: dict[int, str] = {}

    def text(hexdigits: bytes) -> str:
        raw = bytes.fromhex(re.sub(rb"\s", b"", hexdigits).decode())
        return raw.decode("utf-16-be", errors="replace")

    for block in re.findall(rb"beginbfchar(.*?)endbfchar", data, re.S):
        pairs = _HEX.findall(block)
        for src, dst in zip(pairs[::2], pairs[1::2], strict=False):
            mapping[int(re.sub(rb"\s", b"", src), 16)] = text(dst)
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", data, re.S):
        for line in re.finditer(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(<[0-9A-Fa-f\s]*>|\[[^\]]*\])", block):
            low, high, dst = int(line[1], 16), int(line[2], 16), line[3]
            if dst.startswith(b"["):
                for offset, item in enumerate(_HEX.findall(dst)):
                    mapping[low + offset] = text(item)
            else:
                base = text(dst[1:-1])
                for offset in range(high - low + 1):
                    mapping[low + offset] = base[:-1] + chr(ord(base[-1]) + offset) if base else ""
    return mapping


def _glyph_items(instruction) -> list:
    """The operand of a TJ or Tj instruction as TJ array items (strings and numbers)."""
    if str(instruction.operator) == "TJ":
        return list(instruction.operands[0])
    return [instruction.operands[0]]


def _actual_text_span(text: str) -> pikepdf.ContentStreamInstruction:
    attrs = pikepdf.Dictionary(ActualText=pikepdf.String(b"\xfe\xff" + text.encode("utf-16-be")))
    return pikepdf.ContentStreamInstruction([pikepdf.Name.Span, attrs], pikepdf.Operator("BDC"))


def _mark_rank(char: str) -> int:
    """Typing order of Thai marks after their base letter: vowels, then tone marks, then the rest."""
    if char in TONE_MARKS:
        return 1
    return 2 if char in "\u0e4c\u0e4e" else 0


def _cluster_runs(texts: list[str]) -> list[tuple[int, int, str]]:
    """(first, last, typed text) of each cluster whose glyphs do not read as typed.

    A cluster is a base glyph and the Thai mark glyphs after it (HarfBuzz and GSUB may draw a tone mark
    before the vowel below it, or NIKHAHIT before the tone mark), ending in SARA AA when a NIKHAHIT is
    among them (SARA AM, decomposed by the shaper).
    """
    runs = []
    i = 1
    while i < len(texts):
        j = i
        while j < len(texts) and texts[j] and set(texts[j]) <= THAI_MARKS:
            j += 1
        if j == i:
            i += 1
            continue
        marks = "".join(texts[i:j])
        last = j - 1
        typed_marks = "".join(sorted(marks.replace(NIKHAHIT, ""), key=_mark_rank))
        if marks.count(NIKHAHIT) == 1 and j < len(texts) and texts[j] == SARA_AA:
            typed_marks += SARA_AM
            last = j
        elif NIKHAHIT in marks:
            typed_marks = "".join(sorted(marks, key=_mark_rank))
        drawn = "".join(texts[i - 1 : last + 1])
        typed = texts[i - 1] + typed_marks
        if typed != drawn:
            runs.append((i - 1, last, typed))
        i = last + 1
    return runs


def _find_runs(instructions: list, fonts: dict[str, dict[int, str] | None]) -> list[tuple[tuple, tuple, str]]:
    """Each SARA AM run as ((instruction, item, byte offset) of its first glyph, same of its last, text).

    A run may spread over several text-showing instructions: WeasyPrint shows a raised mark with its own
    ``Ts``/``TJ``. Runs never cross a font change, marked content or anything but text state operators,
    and glyphs already inside an ``/ActualText`` span are not touched.
    """
    runs: list[tuple[tuple, tuple, str]] = []
    group: list[tuple[tuple[int, int, int], str]] = []
    current: dict[int, str] | None = None
    marked: list[bool] = []

    def flush():
        for first, last, text in _cluster_runs([g[1] for g in group]):
            runs.append((group[first][0], group[last][0], text))
        group.clear()

    for index, instruction in enumerate(instructions):
        op = str(instruction.operator)
        if op in ("BDC", "BMC"):
            flush()
            attrs = instruction.operands[-1] if op == "BDC" else None
            marked.append(isinstance(attrs, pikepdf.Dictionary) and "/ActualText" in attrs)
        elif op == "EMC":
            flush()
            if marked:
                marked.pop()
        elif op == "Tf":
            flush()
            current = fonts.get(str(instruction.operands[0]))
        elif op in ("TJ", "Tj") and current is not None and not any(marked):
            for item_index, item in enumerate(_glyph_items(instruction)):
                if isinstance(item, pikepdf.String):
                    raw = bytes(item)
                    for offset in range(0, len(raw) - 1, 2):
                        code = int.from_bytes(raw[offset : offset + 2], "big")
                        group.append(((index, item_index, offset), current.get(code, "")))
        elif op not in _TEXT_STATE:
            flush()
    flush()
    return runs


# A stacked mark drawn up to this far (1/1000 em) left of the mark under it reads before it in poppler's
# reading order ("ท่ี" for ที่); such offsets are anchor rounding in the font, not design.
_MARK_NUDGE_LIMIT = 3.0
_MARK_EPSILON = 0.5


def _nudge_stacked_marks(instructions: list, fonts: dict[str, dict[int, str] | None]) -> bool:
    """Move a zero-width Thai mark that WeasyPrint draws a hair left of the mark before it (a tone mark over
    an upper vowel, placed by the font's mark-to-mark anchor) to that mark's x, and give the difference back
    after it, so the marks read in typed order and nothing else moves. True if anything changed."""
    changed = False
    current: dict[int, str] | None = None
    for position, instruction in enumerate(instructions):
        op = str(instruction.operator)
        if op == "Tf":
            current = fonts.get(str(instruction.operands[0]))
            continue
        if op != "TJ" or current is None:
            continue
        items = list(instruction.operands[0])
        moved = False
        last_mark, offset = None, 0.0  # index of the previous one-glyph mark string, numbers since it
        between: list[int] = []
        for index, item in enumerate(items):
            if isinstance(item, pikepdf.String):
                raw = bytes(item)
                if not raw:
                    continue
                text = current.get(int.from_bytes(raw[:2], "big"), "") if len(raw) == 2 else ""
                is_mark = bool(text) and set(text) <= THAI_MARKS
                if is_mark and last_mark is not None and -_MARK_EPSILON < offset <= _MARK_NUDGE_LIMIT and between:
                    shift = offset + _MARK_EPSILON
                    items[between[-1]] = float(items[between[-1]]) - shift
                    if index + 1 < len(items) and not isinstance(items[index + 1], pikepdf.String):
                        items[index + 1] = float(items[index + 1]) + shift
                    else:
                        items.insert(index + 1, shift)
                    moved = True
                last_mark, offset, between = (index if is_mark else None), 0.0, []
            else:
                offset += float(item)
                between.append(index)
        if moved:
            instructions[position] = pikepdf.ContentStreamInstruction([pikepdf.Array(items)], pikepdf.Operator("TJ"))
            changed = True
    return changed


def _rewrite_stream(instructions: list, fonts: dict[str, dict[int, str] | None]) -> list | None:
    """The instructions with each SARA AM run wrapped in an ActualText span; None when there is none.

    A text-showing instruction holding a span boundary is split there into consecutive TJ instructions,
    which draw exactly the same (each string and kerning number moves the text matrix as before).
    """
    runs = _find_runs(instructions, fonts)
    if not runs:
        return None
    cuts: dict[int, list[tuple[int, int, int, str | None]]] = {}
    for (i, item, offset), (j, last_item, last_offset), text in runs:
        cuts.setdefault(i, []).append((item, offset, 1, text))  # open before the first glyph
        cuts.setdefault(j, []).append((last_item, last_offset + 2, 0, None))  # close after the last
    out: list = []
    for index, instruction in enumerate(instructions):
        if index not in cuts:
            out.append(instruction)
            continue
        pending: list = []

        def emit(pending=pending):
            if pending:
                out.append(pikepdf.ContentStreamInstruction([pikepdf.Array(pending)], pikepdf.Operator("TJ")))
                pending.clear()

        points = sorted(cuts[index], key=lambda c: (c[0], c[1], c[2]))
        for item_index, item in enumerate(_glyph_items(instruction)):
            if not isinstance(item, pikepdf.String):
                pending.append(item)
                continue
            raw = bytes(item)
            start = 0
            for _, offset, is_open, text in [p for p in points if p[0] == item_index]:
                if offset > start:
                    pending.append(pikepdf.String(raw[start:offset]))
                    start = offset
                emit()
                if is_open:
                    out.append(_actual_text_span(text))
                else:
                    out.append(pikepdf.ContentStreamInstruction([], pikepdf.Operator("EMC")))
            if start < len(raw):
                pending.append(pikepdf.String(raw[start:]))
        emit()
    return out


def _process(pdf: pikepdf.Pdf, container, resources: pikepdf.Object | None, seen: set) -> None:
    if resources is None:
        return
    fonts: dict[str, dict[int, str] | None] = {}
    for name, font in (resources.get("/Font") or {}).items():
        fonts[name] = _to_unicode_map(font)
    for xobject in (resources.get("/XObject") or {}).values():
        if xobject.get("/Subtype") == "/Form" and xobject.objgen not in seen:
            seen.add(xobject.objgen)
            _process(pdf, xobject, xobject.get("/Resources", resources), seen)
    if not any(fonts.values()):
        return
    instructions = list(pikepdf.parse_content_stream(container))
    nudged = _nudge_stacked_marks(instructions, fonts)
    rewritten = _rewrite_stream(instructions, fonts)
    if rewritten is None:
        if not nudged:
            return
        rewritten = instructions
    data = pikepdf.unparse_content_stream(rewritten)
    if isinstance(container, pikepdf.Page):
        container.obj.Contents = pdf.make_stream(data)
    else:
        container.write(data)


def mark_sara_am(pdf_bytes: bytes) -> bytes:
    """Wrap every SARA AM glyph run of an unsigned PDF in an ``/ActualText`` span (see module docstring)."""
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        seen: set = set()
        for page in pdf.pages:
            _process(pdf, page, page.obj.get("/Resources"), seen)
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()
