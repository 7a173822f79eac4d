"""A forger's tools (issue 17): documents dsign completes through its API, and what a forger does to them.

Every forgery starts from bytes dsign produced in the test (real SoftHSM signatures chaining to the run's
own root) and changes them only the way someone holding the file can: appended incremental updates,
bytes after the end, a wrapper around it. `render_rgb` shows what a viewer (poppler's pdftoppm) paints.
"""

from __future__ import annotations

import io
import re
import subprocess
import tempfile
import zlib
from pathlib import Path

import pikepdf
from django.core.files.uploadedfile import SimpleUploadedFile
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from signing.selectors import verification_revocations, verification_trust_roots
from signing.verification import verify_pdf_bytes

RED = b"1 0 0 rg 0 0 595 842 re f"  # what every forgery paints over the whole page


def complete(*, api_for, personas, otp, pdf: bytes, title: str = "บันทึกข้อความ ทดสอบการปลอม") -> tuple[int, bytes]:
    """Route `pdf` through memo-2-tier (2 of 3 heads, then the director) and return the final file."""
    from django.test import TestCase

    requester = api_for(personas["requester"])
    document_id = _route(
        api_for=api_for, personas=personas, otp=otp, pdf=pdf, title=title, commit=TestCase.captureOnCommitCallbacks
    )
    return document_id, b"".join(requester.get(f"/api/v1/documents/{document_id}/file/").streaming_content)


def _route(*, api_for, personas, otp, pdf: bytes, title: str, commit) -> int:
    """Each step's on-commit work (its signing job) runs before the next: a tier opens on signatures."""
    requester = api_for(personas["requester"])
    with commit(execute=True):
        created = requester.post(
            "/api/v1/documents/",
            {"file": SimpleUploadedFile("memo.pdf", pdf), "title": title, "workflow": "memo-2-tier"},
            format="multipart",
        )
    assert created.status_code == 201, created.content
    document_id = created.json()["id"]
    for name in ("head1", "head2", "director"):
        with commit(execute=True):
            response = api_for(personas[name]).post(
                f"/api/v1/documents/{document_id}/approve/", {"otp": otp(personas[name])}, format="json"
            )
        assert response.status_code == 202, response.content
    return document_id


def verify(data: bytes, **kwargs) -> dict:
    return verify_pdf_bytes(
        data=data, trust_roots=verification_trust_roots(), revocations=verification_revocations(), **kwargs
    )


def all_codes(report: dict) -> set[str]:
    codes = set(report["problem_codes"])
    for item in report["signatures"] + report["document_timestamps"]:
        codes |= set(item["problem_codes"])
    return codes


def incremental(data: bytes, change) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _n(name: str) -> generic.NameObject:
    return generic.NameObject(name)


def _page_overlay_stream(writer) -> generic.IndirectObject:
    box = generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)])
    return writer.add_object(
        generic.StreamObject(
            {_n("/Type"): _n("/XObject"), _n("/Subtype"): _n("/Form"), _n("/BBox"): box}, stream_data=RED
        )
    )


def add_overlay_field(
    writer, *, field_type: str = "/Sig", name: str = "Overlay", invisible_script: bool = False
) -> None:
    """A new empty (signature) field whose appearance paints the whole first page red.

    `invisible_script`: instead a zero-size field whose only content is JavaScript run when the page opens.
    """
    page_ref = writer.root["/Pages"]["/Kids"][0]
    page = page_ref.get_object()
    field = generic.DictionaryObject(
        {
            _n("/FT"): _n(field_type),
            _n("/T"): generic.TextStringObject(name),
            _n("/Type"): _n("/Annot"),
            _n("/Subtype"): _n("/Widget"),
            _n("/Rect"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
            _n("/F"): generic.NumberObject(4),
            _n("/P"): page_ref,
            _n("/AP"): generic.DictionaryObject({_n("/N"): _page_overlay_stream(writer)}),
        }
    )
    if invisible_script:
        field[_n("/Rect")] = generic.ArrayObject([generic.NumberObject(0)] * 4)
        del field["/AP"]
        script = generic.DictionaryObject(
            {_n("/S"): _n("/JavaScript"), _n("/JS"): generic.TextStringObject("app.launchURL('https://pay.example')")}
        )
        field[_n("/AA")] = generic.DictionaryObject({_n("/PO"): writer.add_object(script)})
    ref = writer.add_object(field)
    annots = list(page["/Annots"]) if "/Annots" in page else []
    page[_n("/Annots")] = generic.ArrayObject([*annots, ref])
    writer.update_container(page)
    if "/AcroForm" not in writer.root:
        writer.root[_n("/AcroForm")] = writer.add_object(
            generic.DictionaryObject({_n("/Fields"): generic.ArrayObject()})
        )
        writer.update_root()
    acroform = writer.root["/AcroForm"]
    acroform["/Fields"].append(ref)
    writer.update_container(acroform)
    if isinstance(acroform.raw_get("/Fields"), generic.IndirectObject):
        writer.update_container(acroform["/Fields"])


def add_link_annotation(writer) -> None:
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    link = writer.add_object(
        generic.DictionaryObject(
            {
                _n("/Type"): _n("/Annot"),
                _n("/Subtype"): _n("/Link"),
                _n("/Rect"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
                _n("/A"): generic.DictionaryObject(
                    {_n("/S"): _n("/URI"), _n("/URI"): generic.TextStringObject("https://pay.example/forged")}
                ),
            }
        )
    )
    annots = list(page["/Annots"]) if "/Annots" in page else []
    page[_n("/Annots")] = generic.ArrayObject([*annots, link])
    writer.update_container(page)


def attach_file(writer, *, name: str, data: bytes, mime: str = "application/octet-stream") -> None:
    from pyhanko.pdf_utils.embed import EmbeddedFileObject, FileSpec, embed_file

    embedded = EmbeddedFileObject.from_file_data(writer, data=data, mime_type=mime)
    embed_file(writer, FileSpec(file_spec_string=name, file_name=name, embedded_data=embedded))


def add_unreferenced_payload(writer, *, size: int) -> None:
    writer.add_object(generic.StreamObject(stream_data=b"\x7fELF" + b"P" * size))


def objects_after_eof(data: bytes) -> bytes:
    """An object after %%EOF, then a repeated startxref to the same last cross-reference section."""
    startxref = data[data.rindex(b"startxref") :]
    return data + b"\n999 0 obj\n<< /Forged true >>\nendobj\n" + startxref


def last_signature_offset(data: bytes) -> int:
    return max(m.start() for m in re.finditer(rb"/Contents\s*<", data))


def hide_in_contents_padding(data: bytes) -> bytes:
    """Write data into the zero padding of the last signature's /Contents (outside its byte range)."""
    start = data.index(b"<", last_signature_offset(data)) + 1
    end = data.index(b">", start)
    hex_digits = data[start:end]
    stripped = hex_digits.rstrip(b"0")
    position = start + len(stripped) + 64  # past the CMS structure and a little slack
    payload = b"4649524d4152452d48494444454e"  # "FIRMARE-HIDDEN"
    assert position + len(payload) < end
    return data[:position] + payload + data[position + len(payload) :]


def _xref_table(offsets: dict[int, int]) -> bytes:
    lines = [b"xref\n"]
    for number in sorted(offsets):
        lines.append(b"%d 1\n%010d 00000 n \n" % (number, offsets[number]))
    return b"".join(lines)


def append_revision(data: bytes, objects: dict[int, bytes], *, hybrid: bool = False) -> bytes:
    """Append a hand-written incremental update holding `objects` (number -> body, without obj/endobj).

    `hybrid` also writes an xref stream for them and points the trailer's /XRefStm at it (as Word does).
    """
    with pikepdf.open(io.BytesIO(data)) as pdf:
        size = int(pdf.trailer.Size)
        root = pdf.trailer.Root.objgen[0]
    prev = int(data[data.rindex(b"startxref") + 9 :].split()[0])
    out = bytearray(data if data.endswith(b"\n") else data + b"\n")
    offsets = {}
    for number, body in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    new_size = max(size, max(objects) + 1)
    extra = b""
    if hybrid:
        stream_number = new_size
        new_size += 1
        rows = b"".join(b"\x01" + offsets[n].to_bytes(4, "big") + b"\x00" for n in sorted(offsets))
        index = b" ".join(b"%d 1" % n for n in sorted(offsets))
        packed = zlib.compress(rows)
        offsets_stream = len(out)
        out += (
            b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 1] /Index [%s] /Filter /FlateDecode /Length %d >>\nstream\n"
            % (stream_number, new_size, index, len(packed))
        )
        out += packed + b"\nendstream\nendobj\n"
        extra = b" /XRefStm %d" % offsets_stream
    xref_at = len(out)
    out += _xref_table(offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        new_size,
        root,
        prev,
        extra,
        xref_at,
    )
    return bytes(out)


def duplicate_contents_page(data: bytes, *, hybrid: bool) -> bytes:
    """Page 1 rewritten with /Contents twice: the genuine content first, a red page last (last-wins viewers)."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        page = pdf.pages[0].obj
        number = page.objgen[0]
        size = int(pdf.trailer.Size)
        body = page.unparse(resolved=True)
    forged_number = size
    assert body.rstrip().endswith(b">>") and b"/Contents" in body
    body = body.rstrip()[:-2] + b" /Contents %d 0 R >>" % forged_number
    forged = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(RED), RED)
    return append_revision(data, {forged_number: forged, number: body}, hybrid=hybrid)


def render_rgb(data: bytes, *, page: int = 1, at: tuple[float, float] = (297, 421)) -> tuple[int, int, int]:
    """The colour pdftoppm paints at point `at` (PDF points from the bottom-left) of `page`."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(data)
        subprocess.run(
            ["pdftoppm", "-r", "18", "-f", str(page), "-l", str(page), "-png", str(source), str(Path(tmp) / "out")],
            check=True,
            capture_output=True,
            timeout=60,
        )
        image = next(Path(tmp).glob("out*.png"))
        return _pixel(image.read_bytes(), x=at[0] * 18 / 72, y_from_bottom=at[1] * 18 / 72)


def _pixel(png: bytes, *, x: float, y_from_bottom: float) -> tuple[int, int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
        return rgb.getpixel((int(x), rgb.height - 1 - int(y_from_bottom)))


def is_red(pixel: tuple[int, int, int]) -> bool:
    r, g, b = pixel
    return r > 200 and g < 60 and b < 60
