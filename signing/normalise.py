"""What dsign routes is exactly what it shows: uploaded PDFs are normalised before they are stored.

`pdf_normalise(data)` (pikepdf/qpdf) removes everything that can change what a signed document shows or
does after it has been signed, or that a later update could exploit:

- scripts and automatic actions: `/OpenAction`, `/AA` (catalogue, pages, annotations, fields), the
  document JavaScript name tree, XFA forms, launch/URI/JavaScript/submit actions (links are removed);
- attachments and portfolios: the `/EmbeddedFiles` name tree, associated files (`/AF`), `/Collection`;
- form fields: appearances are generated where the file asks for it (`/NeedAppearances`) and every
  visible field and annotation is flattened into the page (what the value *shows* becomes page content;
  hidden fields are dropped), then the form (`/AcroForm`) is removed;
- existing signatures and signature fields, their field locks, `/Perms` (DocMDP / UR3);
- the file's history: incremental updates and hybrid cross-references are rewritten as one clean revision.

A file that needs none of this is returned byte for byte (its SHA-256 stays what the uploader has). A file
that cannot be read is refused with `NormaliseRefused` (a 4xx with a message for the uploader). The
caller records `removed` (plain words) in its audit row.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pikepdf
from django.utils.translation import gettext as _

from core.errors import DomainError

__all__ = ["NormaliseRefused", "Normalised", "pdf_normalise"]

_ACTION_KEYS = ("/OpenAction", "/AA")
_CATALOG_REMOVE = {
    "/OpenAction": "automatic action on opening",
    "/AA": "automatic actions",
    "/Perms": "signature permissions",
    "/Collection": "portfolio",
    "/AF": "associated files",
}


class NormaliseRefused(DomainError):
    """The upload cannot be normalised (unreadable or encrypted); `code` is stable for API clients."""

    status = 400


@dataclass
class Normalised:
    data: bytes
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.removed)


def pdf_normalise(data: bytes) -> Normalised:
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError as exc:
        raise NormaliseRefused(_("The PDF is encrypted; upload it without a password."), "pdf_encrypted") from exc
    except Exception as exc:  # pikepdf raises many types on broken files; all mean "cannot read it"
        raise NormaliseRefused(_("The PDF is damaged and cannot be read."), "pdf_damaged") from exc
    with pdf:
        if pdf.is_encrypted:
            raise NormaliseRefused(_("The PDF is encrypted; upload it without a password."), "pdf_encrypted")
        removed: list[str] = []
        try:
            _history(pdf=pdf, data=data, removed=removed)
            _catalog(pdf=pdf, removed=removed)
            _forms_and_annotations(pdf=pdf, removed=removed)
        except NormaliseRefused:
            raise
        except Exception as exc:  # noqa: BLE001 - a structure qpdf cannot rewrite is an unreadable upload
            raise NormaliseRefused(_("The PDF is damaged and cannot be read."), "pdf_damaged") from exc
        if not removed:
            return Normalised(data=data)
        removed = list(dict.fromkeys(removed))  # one sentence per kind
        out = io.BytesIO()
        pdf.remove_unreferenced_resources()
        pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.preserve, deterministic_id=True)
        return Normalised(data=out.getvalue(), removed=removed)


def _history(*, pdf: pikepdf.Pdf, data: bytes, removed: list[str]) -> None:
    trailer = pdf.trailer
    if "/XRefStm" in trailer:
        removed.append("hybrid cross-references")
    if data.count(b"startxref") > 1 and not pdf.is_linearized:
        removed.append("earlier revisions (incremental updates)")
    if pdf.get_warnings():
        removed.append("damaged cross-reference data (repaired)")


def _catalog(*, pdf: pikepdf.Pdf, removed: list[str]) -> None:
    root = pdf.Root
    for key, words in _CATALOG_REMOVE.items():
        if key in root:
            del root[key]
            removed.append(words)
    names = root.get("/Names")
    if isinstance(names, pikepdf.Dictionary):
        for key, words in (("/JavaScript", "scripts"), ("/EmbeddedFiles", "attached files")):
            if key in names:
                del names[key]
                removed.append(words)
    for page in pdf.pages:
        for key in ("/AA", "/AF"):
            if key in page.obj:
                del page.obj[key]
                removed.append("page actions" if key == "/AA" else "associated files")


def _forms_and_annotations(*, pdf: pikepdf.Pdf, removed: list[str]) -> None:
    acroform = pdf.Root.get("/AcroForm")
    has_annotations = any("/Annots" in page.obj and len(page.obj.Annots) for page in pdf.pages)
    if acroform is None and not has_annotations:
        return
    for page in pdf.pages:
        annots = page.obj.get("/Annots")
        if not isinstance(annots, pikepdf.Array):
            continue
        kept = pikepdf.Array()
        for annot in annots:
            if not isinstance(annot, pikepdf.Dictionary):
                continue
            if _is_signature(annot):
                removed.append("signatures and signature fields")
                continue
            if annot.get("/Subtype") == "/Link":
                removed.append("links")
                continue
            for key in ("/A", "/AA"):
                if key in annot:
                    del annot[key]
                    removed.append("actions of fields and annotations")
            kept.append(annot)
        page.obj.Annots = kept
    if acroform is not None:
        if "/XFA" in acroform:
            removed.append("XFA form")
            del acroform["/XFA"]
        fields = acroform.get("/Fields")
        if isinstance(fields, pikepdf.Array):
            acroform.Fields = pikepdf.Array([f for f in fields if not _is_signature(f)])
        if acroform.get("/NeedAppearances"):
            pdf.generate_appearance_streams()
    if any("/Annots" in page.obj and len(page.obj.Annots) for page in pdf.pages):
        removed.append("form fields and annotations (flattened into the page as shown)")
        # hidden and invisible annotations are not flattened: they are dropped with the rest
        pdf.flatten_annotations(mode="all")
    for page in pdf.pages:
        if "/Annots" in page.obj:
            del page.obj["/Annots"]
    if "/AcroForm" in pdf.Root:
        del pdf.Root["/AcroForm"]
        if "form" not in " ".join(removed):
            removed.append("empty form")


def _is_signature(node) -> bool:
    hops = 0
    while isinstance(node, pikepdf.Dictionary) and hops < 32:
        if node.get("/FT") == "/Sig":
            return True
        node = node.get("/Parent")
        hops += 1
    return False
