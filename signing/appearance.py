"""The visible signature stamp drawn in a signature box (dates are written by core.thai).

The stamp is the whole signature block of a Thai memo (เกษียนหนังสือ): the signer's comment, the
handwritten signature, "(name)", position, acting-for words and the Buddhist-era date, so nothing is
printed for a seat before it is signed and each name appears once. Lines wrap at Thai word boundaries
(Pango's line breaker) and the font size is the largest at which every line fits the box.

The stamp is a pyHanko stamp style (:class:`ThaiSignatureStampStyle`), so pyHanko's signer
places it in the signature widget like any of its own styles. Thai text is shaped with
HarfBuzz through pyHanko's OpenType font engine, which is what makes above/below vowels and
tone marks stack instead of colliding.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import BaseStamp, BaseStampStyle

from core.fonts import stamp_font_factory, thai_font_path
from core.thai import Era, format_thai_datetime, line_break_points

__all__ = [
    "Appearance",
    "ThaiSignatureStamp",
    "ThaiSignatureStampStyle",
    "appearance_lines",
    "comment_lines",
    "load_handwritten_image",
]

_LABELS = {
    "th": {"signed_at": "ลงนามเมื่อ"},
    "en": {"signed_at": "Signed"},
}

# Sarabun's marks reach about 1.1 em above the baseline and 0.35 em below it
# (stacked tone mark over an upper vowel, or a below vowel), so lines need more than
# the usual 1.2 em to keep stacks of adjacent lines apart.
_LINE_HEIGHT_EM = 1.45
_ASCENT_EM = 1.05
_MAX_FONT_SIZE = 14.0
_MIN_FONT_SIZE = 4.0
_READABLE_FONT_SIZE = 7.0
_MARGIN = 3.0
_IMAGE_SHARE = 0.45
_IMAGE_SHARE_WITH_COMMENT = 0.32
_SIZE_STEP = 0.25
_MAX_COMMENT_CHARS = 500


@dataclass
class Appearance:
    """What the visible stamp shows for one signer."""

    full_name_th: str
    position: str
    signed_at: datetime
    acting_for: str | None = None
    era: Era = "BE"
    handwritten_png: bytes | None = None
    locale: str = "th"
    text_color: tuple[float, float, float] = (0.0, 0.0, 0.0)
    comment: str = ""

    def __post_init__(self) -> None:
        if self.era not in ("BE", "CE"):
            raise ValueError(f"era must be 'BE' or 'CE', not {self.era!r}")
        if not self.full_name_th.strip():
            raise ValueError("full_name_th must not be empty")

    @property
    def language(self) -> str:
        return self.locale.split("-")[0].lower()


def comment_lines(appearance: Appearance) -> list[str]:
    """The signer's comment (เห็นควรอนุมัติ …) as paragraphs, printed above the signature."""
    text = (appearance.comment or "").strip()[:_MAX_COMMENT_CHARS]
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def appearance_lines(appearance: Appearance) -> list[str]:
    """The text lines under the signature (name, position, acting for, date), top to bottom."""
    labels = _LABELS.get(appearance.language, _LABELS["th"])
    lines = [f"({appearance.full_name_th.strip()})"]
    if appearance.position.strip():
        lines.append(appearance.position.strip())
    if appearance.acting_for and appearance.acting_for.strip():
        lines.append(appearance.acting_for.strip())
    when = format_thai_datetime(appearance.signed_at, appearance.era)
    lines.append(f"{labels['signed_at']} {when}")
    return lines


def load_handwritten_image(png: bytes) -> Image.Image:
    """Decode a handwritten-signature image, raising ValueError if it is not one."""
    try:
        image = Image.open(io.BytesIO(png))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError("handwritten signature is not a readable image") from exc
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA")
    return image


@dataclass(frozen=True)
class ThaiSignatureStampStyle(BaseStampStyle):
    """pyHanko stamp style drawing an :class:`Appearance` with a Thai font."""

    appearance: Appearance | None = None
    font_file: str = field(default_factory=lambda: str(thai_font_path()))
    border_width: int = 0

    def create_stamp(
        self,
        writer: BasePdfFileWriter,
        box: layout.BoxConstraints,
        text_params: dict,
    ) -> ThaiSignatureStamp:
        if self.appearance is None:
            raise ValueError("ThaiSignatureStampStyle needs an appearance")
        return ThaiSignatureStamp(writer=writer, style=self, box=box)


class ThaiSignatureStamp(BaseStamp):
    """Renders a :class:`ThaiSignatureStampStyle` into a box of known size."""

    def __init__(
        self,
        writer: BasePdfFileWriter,
        style: ThaiSignatureStampStyle,
        box: layout.BoxConstraints,
    ):
        if not (box.width_defined and box.height_defined):
            raise layout.LayoutError("A Thai signature stamp needs a sized box")
        super().__init__(writer=writer, style=style, box=box)

    def _render_inner_content(self) -> list[bytes]:
        appearance: Appearance = self.style.appearance
        inner_width = max(self.box.width - 2 * _MARGIN, 1.0)
        inner_height = max(self.box.height - 2 * _MARGIN, 1.0)
        comments = comment_lines(appearance)
        lines = appearance_lines(appearance)

        font = stamp_font_factory(font_file=self.style.font_file, bcp47_lang_code=appearance.locale)
        engine = font.create_font_engine(self.writer)
        image_height = 0.0
        if appearance.handwritten_png:
            image_height = inner_height * (_IMAGE_SHARE_WITH_COMMENT if comments else _IMAGE_SHARE)
        size, wrapped_comments, wrapped_lines = _fit(
            engine=engine, comments=comments, lines=lines, width=inner_width, height=inner_height - image_height
        )
        engine.font_size = size
        line_height = size * _LINE_HEIGHT_EM
        block_height = line_height * (len(wrapped_comments) + len(wrapped_lines)) + image_height
        top = _MARGIN + inner_height - max(inner_height - block_height, 0) / 2

        commands: list[bytes] = []
        if wrapped_comments:
            commands.append(
                self._text_commands(
                    appearance=appearance,
                    engine=engine,
                    lines=wrapped_comments,
                    left=_MARGIN,
                    top=top,
                    width=inner_width,
                )
            )
            top -= line_height * len(wrapped_comments)
        if image_height:
            commands.append(
                self._image_commands(
                    appearance=appearance,
                    left=_MARGIN,
                    bottom=top - image_height,
                    width=inner_width,
                    height=image_height,
                )
            )
            top -= image_height
        commands.append(
            self._text_commands(
                appearance=appearance, engine=engine, lines=wrapped_lines, left=_MARGIN, top=top, width=inner_width
            )
        )
        return commands

    def _image_commands(
        self,
        *,
        appearance: Appearance,
        left: float,
        bottom: float,
        width: float,
        height: float,
    ) -> bytes:
        image = load_handwritten_image(appearance.handwritten_png)
        scale = min(width / image.width, height / image.height)
        drawn_width, drawn_height = image.width * scale, image.height * scale
        pdf_image = PdfImage(
            image,
            writer=self.writer,
            box=layout.BoxConstraints(width=drawn_width, height=drawn_height),
        )
        drawing = pdf_image.render()
        self.import_resources(pdf_image.resources)
        x = left + (width - drawn_width) / 2
        y = bottom + (height - drawn_height) / 2
        return b"q 1 0 0 1 %g %g cm %s Q" % (x, y, drawing)

    def _text_commands(
        self,
        *,
        appearance: Appearance,
        engine,
        lines: list[tuple[str, float]],
        left: float,
        top: float,
        width: float,
    ) -> bytes:
        """Centred lines from `top` down; `lines` are (text, width in em) at the engine's font size."""
        size = engine.font_size
        font_name = "/ThaiF1"
        self.set_resource(category=ResourceType.FONT, name=pdf_name(font_name), value=engine.as_resource())
        line_height = size * _LINE_HEIGHT_EM
        first_baseline = top - (line_height - size) / 2 - size * _ASCENT_EM
        ops = [b"q %g %g %g rg" % appearance.text_color]
        for index, (line, width_em) in enumerate(lines):
            x = left + (width - width_em * size) / 2
            y = first_baseline - index * line_height
            shaped = engine.shape(line)
            ops.append(
                b"BT %s %g Tf 1 0 0 1 %g %g Tm %s ET" % (font_name.encode("ascii"), size, x, y, shaped.graphics_ops)
            )
        ops.append(b"Q")
        return b" ".join(ops)


def _advance_measurer(engine) -> Callable[[str], float]:
    """The width in em of a piece of text, each piece shaped once (the fit tries many font sizes)."""

    @functools.cache
    def measure(piece: str) -> float:
        return engine.shape(piece, with_actual_text=False).x_advance

    return measure


def _wrap(*, text: str, width_em: float, measure: Callable[[str], float]) -> list[tuple[str, float]]:
    """`text` broken at Thai word boundaries into lines at most `width_em` wide (a word wider than that
    stands alone on its line), each with its width in em (`measure`)."""
    if measure(text) <= width_em:
        return [(text, measure(text))]
    pieces: list[str] = []
    start, end = 0, None
    for point in [*sorted(line_break_points(text)), len(text)]:
        if measure(text[start:point].strip()) <= width_em:
            end = point
            continue
        if end is not None:
            pieces.append(text[start:end])
            start = end
            if measure(text[start:point].strip()) <= width_em:
                end = point
                continue
        pieces.append(text[start:point])
        start, end = point, None
    if start < len(text):
        pieces.append(text[start:])
    return [(piece.strip(), measure(piece.strip())) for piece in pieces if piece.strip()]


def _fit(*, engine, comments: list[str], lines: list[str], width: float, height: float):
    """The font size and wrapped lines of the block: comments and the date line wrap at word boundaries;
    the name, position and acting-for lines stay whole if they fit at a readable size (they are searched
    as one phrase), and wrap only when they do not."""
    measure = _advance_measurer(engine)
    for wrap_lines, smallest in ((False, _READABLE_FONT_SIZE), (True, _MIN_FONT_SIZE)):
        size = _MAX_FONT_SIZE
        while True:
            width_em = width / size
            wrapped_comments = [p for text in comments for p in _wrap(text=text, width_em=width_em, measure=measure)]
            wrapped_lines = [
                piece
                for index, text in enumerate(lines)
                for piece in (
                    _wrap(text=text, width_em=width_em, measure=measure)
                    if wrap_lines or index == len(lines) - 1
                    else [(text, measure(text))]
                )
            ]
            count = len(wrapped_comments) + len(wrapped_lines)
            widest = max((w for _, w in [*wrapped_comments, *wrapped_lines]), default=0.0)
            if count * _LINE_HEIGHT_EM * size <= height and widest * size <= width:
                return size, wrapped_comments, wrapped_lines
            if size <= smallest:
                break
            size = max(size - _SIZE_STEP, smallest)
    return size, wrapped_comments, wrapped_lines
