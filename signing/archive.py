"""PDF/A-3 archive copies of signed documents, the diff rule that keeps their signatures valid, and the
long-term care check (`lta_renewal_needed`).

`archive_copy_make(pdf=, record=)` appends ONE incremental update to a signed PDF; the bytes of every
existing revision are untouched, so every signature still covers its revision. The update adds:

- the signing record as two associated files, `signing-record.json` (application/json) and
  `signing-record.xml` (application/xml), both `AFRelationship /Data`, registered in the catalog's
  `/Names /EmbeddedFiles` name tree and in the catalog's `/AF` array; each file specification has
  `/F`, `/UF`, `/Desc`, and its embedded file stream has `/Subtype` (the MIME type), `/Params /ModDate`,
  `/Size` and `/CheckSum`;
- XMP metadata (a new `/Metadata` stream) with `pdfaid:part=3`, `pdfaid:conformance=B`, `dc:title`,
  `dc:description` (the record's summary), `xmp:CreateDate`, `xmp:ModifyDate`, `xmp:CreatorTool`,
  `pdf:Producer`, and a fresh `/Info` dictionary holding exactly the same values (PDF/A requires the
  two to agree; `/ModDate` is left out of `/Info` so the two clocks can never disagree);
- an sRGB output intent (`/S /GTS_PDFA1`) with the ICC profile shipped in pikepdf
  (`pikepdf/pdfa/data/sRGB.icc`, read from the installed package, never downloaded), unless the
  document already has output intents.

Example record (any JSON-serialisable dict works; `summary` and `document.title` feed the XMP)::

    {
      "summary": "บันทึกข้อความ ขออนุมัติ — approved by 3 signers, completed 2026-03-01",
      "document": {"id": 12, "title": "บันทึกข้อความ ขออนุมัติ", "reference": "DS-2026-0012",
                   "template": "memo-2-tier", "created_at": "2026-02-27T09:00:00+07:00",
                   "completed_at": "2026-03-01T15:30:00+07:00", "sha256_original": "…"},
      "tiers": [{"order": 1, "name": "หัวหน้างาน", "quorum": 2,
                 "decisions": [{"signer": "head1", "decision": "approved",
                                "at": "2026-02-28T10:00:00+07:00", "comment": ""}]}],
      "signers": [{"username": "head1", "full_name_th": "นายสมชาย รักงาน", "position": "หัวหน้างาน",
                   "field": "Sig-1-head1", "signed_at": "…", "level": "B-LTA"}],
      "certificates": [{"serial": "5a…", "subject": "CN=…", "issuer": "CN=dsign Issuing CA",
                        "not_before": "…", "not_after": "…"}],
      "timestamps": [{"kind": "document", "at": "…", "tsa": "CN=dsign TSA"}]
    }

PDF/A-3 requirements checked here (no validator is available on this machine): the associated-file
rules of ISO 19005-3 §6.8 (AF relationship, MIME subtype, /Params /ModDate, /F and /UF, files in the
EmbeddedFiles name tree and in /AF), pdfaid identification in XMP, Info/XMP agreement for the
entries we write, the uncompressed metadata stream, and an RGB output intent with an embedded ICC
profile. What an existing signed document may still violate, and an incremental update cannot repair
without breaking its signatures: fonts not embedded (e.g. a scanned memo made by a word processor with
base-14 fonts), transparency groups or DeviceCMYK without a matching intent, JavaScript or other
forbidden actions, LZW/encrypted streams, a file header above 1.7 or missing binary comment, an
`/Info` or XMP written earlier that conflicts, and the signature appearances themselves. dsign's own
PDFs embed the Sarabun font, so documents made in dsign usually satisfy these.

Diff rule: pyHanko's difference analysis calls any change to `/Names`, `/AF` or `/OutputIntents` in
the catalog "other", which a strict verifier must reject. `archive_diff_policy()` extends the standard
policy with `ArchiveRecordRule`, which allows exactly what this module writes and nothing else: new
file specifications (fresh objects) whose relationship is /Data or /Source and whose MIME type is
JSON or XML, appended to `/AF` and the flat EmbeddedFiles tree while every earlier entry stays
identical, and an output intent added only when there was none, whose profile is byte-identical to a
known sRGB profile (so it cannot change how the signed pages look). Attachments added after a
signature are reported by the verifier as such.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pikepdf
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.embed import EmbeddedFileObject, EmbeddedFileParams, FileSpec
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata import model as xmp_model
from pyhanko.pdf_utils.metadata.xmp_xml import MetadataStream
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    CatalogModificationRule,
    ModificationLevel,
    QualifiedWhitelistRule,
    ReferenceUpdate,
    StandardDiffPolicy,
    SuspiciousModification,
)
from pyhanko.sign.diff_analysis.constants import ROOT_EXEMPT_STRICT_COMPARISON

__all__ = [
    "ArchiveInputError",
    "ArchiveRecordRule",
    "RECORD_JSON_NAME",
    "RECORD_XML_NAME",
    "archive_copy_make",
    "archive_diff_policy",
    "archive_record_read",
    "fonts_not_embedded",
    "lta_renewal_needed",
    "record_to_xml",
]

RECORD_JSON_NAME = "signing-record.json"
RECORD_XML_NAME = "signing-record.xml"
RECORD_MIME_TYPES = {"/application/json", "/application/xml", "/text/xml"}
ALLOWED_RELATIONSHIPS = {"/Data", "/Source", "/Supplement"}
SRGB_PROFILE = Path(pikepdf.__file__).parent / "pdfa" / "data" / "sRGB.icc"
ARCHIVE_CATALOG_KEYS = frozenset({"/Names", "/AF", "/OutputIntents"})
CREATOR_TOOL = "dsign"


class ArchiveInputError(ValueError):
    """The document cannot be given an archive update (not a PDF, encrypted, exotic name tree)."""


# ---------------------------------------------------------------------------------------------
# Making the archive copy
# ---------------------------------------------------------------------------------------------


def archive_copy_make(*, pdf: bytes, record: dict, now: datetime | None = None) -> bytes:
    """`pdf` with the signing record and PDF/A-3 metadata appended as one incremental update."""
    now = now or datetime.now(UTC)
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        if reader.encrypted:
            raise ArchiveInputError("An encrypted document cannot be archived.")
        writer = IncrementalPdfFileWriter.from_reader(reader)
    except (PdfError, ValueError, KeyError) as exc:
        raise ArchiveInputError(f"Not a readable PDF: {exc}") from exc
    root = writer.root
    missing = fonts_not_embedded(pdf=pdf)
    # PDF/A-3 only when it can be: an incremental update cannot embed a font the signed revisions use
    record = {
        **record,
        "pdfa": {
            "claimed": "PDF/A-3B" if not missing else None,
            "fonts_not_embedded": missing,
            "checked": "every font of every page, form XObject and annotation appearance has its program embedded",
        },
    }

    record_json = json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True, default=str).encode("utf-8")
    specs = [
        _file_spec(
            writer=writer,
            name=RECORD_JSON_NAME,
            data=record_json,
            mime="application/json",
            now=now,
            description="Signing record (JSON)",
        ),
        _file_spec(
            writer=writer,
            name=RECORD_XML_NAME,
            data=record_to_xml(record),
            mime="application/xml",
            now=now,
            description="Signing record (XML)",
        ),
    ]
    _register_files(writer=writer, root=root, specs=specs)
    if "/OutputIntents" not in root:
        root["/OutputIntents"] = generic.ArrayObject([writer.add_object(_srgb_output_intent(writer=writer))])
    _write_metadata(writer=writer, reader=reader, root=root, record=record, now=now, pdfa=not missing)
    writer.update_root()

    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def record_to_xml(record: dict) -> bytes:
    """The record as XML: dict keys become elements, list items `<item>` elements, values text."""
    top = ET.Element("signingRecord", {"xmlns": "urn:dsign:signing-record:1"})
    _xml_fill(top, record)
    ET.indent(top)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def _xml_fill(element: ET.Element, value) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            tag = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(key)) or "_"
            if not (tag[0].isalpha() or tag[0] == "_"):
                tag = "_" + tag
            _xml_fill(ET.SubElement(element, tag), item)
    elif isinstance(value, list | tuple):
        for item in value:
            _xml_fill(ET.SubElement(element, "item"), item)
    elif value is not None:
        element.text = str(value).lower() if isinstance(value, bool) else str(value)


def _file_spec(*, writer, name: str, data: bytes, mime: str, now: datetime, description: str):
    stream = EmbeddedFileObject.from_file_data(
        writer,
        data=data,
        mime_type=mime,
        params=EmbeddedFileParams(embed_size=True, embed_checksum=True, creation_date=now, modification_date=now),
    )
    spec = FileSpec(
        file_spec_string=name,
        file_name=name,
        embedded_data=stream,
        description=description,
        af_relationship=generic.NameObject("/Data"),
    )
    return name, writer.add_object(spec.as_pdf_object())


def _register_files(*, writer, root, specs: list) -> None:
    """New /Names, EmbeddedFiles tree and /AF objects: old objects are referenced, never rewritten."""
    names = root["/Names"] if "/Names" in root else None
    new_names = generic.DictionaryObject()
    if names is not None:
        for key in names:
            new_names[key] = names.raw_get(key)
    pairs: list[tuple[str, generic.PdfObject]] = []
    if names is not None and "/EmbeddedFiles" in names:
        tree = names["/EmbeddedFiles"]
        if "/Kids" in tree:
            raise ArchiveInputError("The document's attachment tree is nested; it cannot be extended safely.")
        existing = _get(tree, "/Names", generic.ArrayObject())
        pairs = [(str(existing[i]), existing.raw_get(i + 1)) for i in range(0, len(existing) - 1, 2)]
    taken = {name for name, _ in pairs}
    for name, ref in specs:
        if name in taken:
            raise ArchiveInputError(f"The document already has an attachment called {name}.")
        pairs.append((name, ref))
    pairs.sort(key=lambda pair: pair[0].encode("utf-16-be"))
    flat = generic.ArrayObject()
    for name, ref in pairs:
        flat.append(generic.TextStringObject(name))
        flat.append(ref)
    new_names["/EmbeddedFiles"] = writer.add_object(generic.DictionaryObject({generic.NameObject("/Names"): flat}))
    root["/Names"] = writer.add_object(new_names)

    af = generic.ArrayObject()
    if "/AF" in root:
        old_af = root["/AF"]
        af.extend(old_af.raw_get(i) for i in range(len(old_af)))
    af.extend(ref for _, ref in specs)
    root["/AF"] = writer.add_object(af)


def _srgb_output_intent(*, writer) -> generic.DictionaryObject:
    profile = generic.StreamObject(
        {generic.NameObject("/N"): generic.NumberObject(3)}, stream_data=SRGB_PROFILE.read_bytes()
    )
    profile.compress()
    return generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/OutputIntent"),
            generic.NameObject("/S"): generic.NameObject("/GTS_PDFA1"),
            generic.NameObject("/OutputConditionIdentifier"): generic.TextStringObject("sRGB IEC61966-2.1"),
            generic.NameObject("/RegistryName"): generic.TextStringObject("http://www.color.org"),
            generic.NameObject("/Info"): generic.TextStringObject("sRGB IEC61966-2.1"),
            generic.NameObject("/DestOutputProfile"): writer.add_object(profile),
        }
    )


def fonts_not_embedded(*, pdf: bytes) -> list[str]:
    """The base names of fonts used in `pdf` whose program is not in the file (PDF/A forbids them).

    Walks the fonts of every page, of the form XObjects they draw (nested) and of the annotations'
    appearance streams. Type 3 fonts are drawn by the PDF itself and always count as embedded.
    """
    missing: set[str] = set()
    seen: set[tuple[int, int]] = set()

    def font_embedded(font) -> bool:
        subtype = str(font.get("/Subtype", ""))
        if subtype == "/Type3":
            return True
        if subtype == "/Type0":
            descendants = font.get("/DescendantFonts") or []
            return all(font_embedded(d) for d in descendants)
        descriptor = font.get("/FontDescriptor")
        return descriptor is not None and any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))

    def visit(resources) -> None:
        if resources is None or not isinstance(resources, pikepdf.Dictionary):
            return
        for font in (resources.get("/Font") or {}).values():
            if not font_embedded(font):
                missing.add(str(font.get("/BaseFont", "?")).lstrip("/"))
        for xobject in (resources.get("/XObject") or {}).values():
            key = xobject.objgen
            if key in seen or key == (0, 0):
                continue
            seen.add(key)
            if str(xobject.get("/Subtype", "")) == "/Form":
                visit(xobject.get("/Resources"))

    def visit_appearance(appearance) -> None:
        if isinstance(appearance, pikepdf.Stream):
            key = appearance.objgen
            if key not in seen:
                seen.add(key)
                visit(appearance.get("/Resources"))
        elif isinstance(appearance, pikepdf.Dictionary):
            for value in appearance.values():
                visit_appearance(value)

    with pikepdf.open(BytesIO(pdf)) as document:
        for page in document.pages:
            visit(page.obj.get("/Resources"))
            for annotation in page.obj.get("/Annots") or []:
                for appearance in (annotation.get("/AP") or {}).values():
                    visit_appearance(appearance)
    return sorted(missing)


def _write_metadata(*, writer, reader, root, record: dict, now: datetime, pdfa: bool = True) -> None:
    title = str((record.get("document") or {}).get("title") or "")
    summary = str(record.get("summary") or "")
    created = reader.document_meta_view.created or now
    if isinstance(created, str):
        created = now

    # pyHanko fills dc:title, dc:description, xmp:CreatorTool/CreateDate/ModifyDate and pdf:Producer
    # from document_meta when it writes; the pdfaid identification is ours
    meta = writer.document_meta
    meta.title = title or None
    meta.subject = summary or None
    meta.creator = CREATOR_TOOL
    meta.created = created
    fields = {}
    try:
        if "/Metadata" in root:
            existing = root["/Metadata"]
            if isinstance(existing, MetadataStream):
                fields = {k: v for structure in existing.xmp for k, v in structure}
    except Exception:  # noqa: BLE001 - unparsable old XMP is replaced, not repaired
        fields = {}
    for key in list(fields):
        if key.ns == xmp_model.NS["pdfaid"]:
            del fields[key]  # an earlier claim is not ours to repeat
    if pdfa:
        fields[xmp_model.ExpandedName(ns=xmp_model.NS["pdfaid"], local_name="part")] = xmp_model.XmpValue("3")
        fields[xmp_model.ExpandedName(ns=xmp_model.NS["pdfaid"], local_name="conformance")] = xmp_model.XmpValue("B")
    stream = MetadataStream.from_xmp([xmp_model.XmpStructure(fields)])
    root["/Metadata"] = writer.add_object(stream)

    # a fresh /Info with only the entries the XMP also carries (pyHanko rewrites them on write)
    info = generic.DictionaryObject({generic.NameObject("/Producer"): generic.TextStringObject(xmp_model.VENDOR)})
    info[generic.NameObject("/Creator")] = generic.TextStringObject(CREATOR_TOOL)
    info[generic.NameObject("/CreationDate")] = generic.pdf_date(created)
    if title:
        info[generic.NameObject("/Title")] = generic.TextStringObject(title)
    if summary:
        info[generic.NameObject("/Subject")] = generic.TextStringObject(summary)
    writer.set_info(writer.add_object(info))


def archive_record_read(*, pdf: bytes) -> dict:
    """The JSON signing record of an archive copy (for tests, exports and the audit view)."""
    with pikepdf.open(BytesIO(pdf)) as doc:
        return json.loads(doc.attachments[RECORD_JSON_NAME].get_file().read_bytes())


# ---------------------------------------------------------------------------------------------
# The difference-analysis rule the verifier applies
# ---------------------------------------------------------------------------------------------


def _known_profile_digests() -> frozenset[str]:
    digests = set()
    for path in (SRGB_PROFILE,):
        try:
            digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
        except OSError:
            continue
    return frozenset(digests)


class ArchiveRecordRule(QualifiedWhitelistRule):
    """Allow an update that adds associated data files and an sRGB output intent, and nothing else."""

    def __init__(self, profile_digests: frozenset[str] | None = None):
        self.profile_digests = profile_digests if profile_digests is not None else _known_profile_digests()

    def apply_qualified(
        self, old: HistoricalResolver, new: HistoricalResolver
    ) -> Iterable[tuple[ModificationLevel, ReferenceUpdate]]:
        old_root, new_root = old.root, new.root
        approved: list[generic.Reference] = []
        added_specs: set[generic.Reference] = set()

        if _raw(old_root, "/Names") != _raw(new_root, "/Names"):
            approved += self._names(old=old, old_root=old_root, new_root=new_root, added=added_specs)
        if _raw(old_root, "/AF") != _raw(new_root, "/AF"):
            approved += self._af(old=old, old_root=old_root, new_root=new_root, added=added_specs)
        if _raw(old_root, "/OutputIntents") != _raw(new_root, "/OutputIntents"):
            approved += self._output_intents(old=old, old_root=old_root, new_root=new_root)
        for ref in added_specs:
            approved += self._file_spec(old=old, ref=ref)
        for ref in approved:
            # updates that do not alter what any signed page shows: LTA level, like /Info and XMP
            yield ModificationLevel.LTA_UPDATES, ReferenceUpdate(ref)

    @staticmethod
    def _fresh(old: HistoricalResolver, value) -> list[generic.Reference]:
        """An indirect value must be a brand-new object (never an overridden signed one)."""
        if isinstance(value, generic.IndirectObject | generic.Reference):
            ref = value.reference if isinstance(value, generic.IndirectObject) else value
            if not old.is_ref_unassignable(ref):
                raise SuspiciousModification(f"archive update overrides existing object {ref}")
            return [ref]
        return []

    def _names(self, *, old, old_root, new_root, added: set) -> list[generic.Reference]:
        refs = self._fresh(old, new_root.raw_get("/Names"))
        new_names = new_root["/Names"]
        old_names = _get(old_root, "/Names", generic.DictionaryObject())
        keys = (set(old_names.keys()) | set(new_names.keys())) - {"/EmbeddedFiles"}
        for key in keys:
            if _raw(old_names, key) != _raw(new_names, key):
                raise SuspiciousModification(f"archive update changes the {key} name tree")
        old_pairs = _flat_tree(old_names["/EmbeddedFiles"]) if "/EmbeddedFiles" in old_names else {}
        if "/EmbeddedFiles" not in new_names:
            raise SuspiciousModification("archive update removes attachments")
        if _raw(old_names, "/EmbeddedFiles") == _raw(new_names, "/EmbeddedFiles"):
            return refs
        refs += self._fresh(old, new_names.raw_get("/EmbeddedFiles"))
        tree = new_names["/EmbeddedFiles"]
        refs += self._fresh(old, tree.raw_get("/Names")) if "/Names" in tree else []
        new_pairs = _flat_tree(tree)
        for name, value in old_pairs.items():
            if new_pairs.get(name) != value:
                raise SuspiciousModification(f"archive update replaces attachment {name}")
        for name, value in new_pairs.items():
            if name not in old_pairs:
                if not isinstance(value, generic.IndirectObject):
                    raise SuspiciousModification("attachment file specification must be indirect")
                added.add(value.reference)
        return refs

    def _af(self, *, old, old_root, new_root, added: set) -> list[generic.Reference]:
        refs = self._fresh(old, new_root.raw_get("/AF"))
        old_af = _get(old_root, "/AF", generic.ArrayObject())
        new_af = new_root["/AF"]
        if not isinstance(new_af, generic.ArrayObject) or len(new_af) < len(old_af):
            raise SuspiciousModification("archive update shrinks /AF")
        for index in range(len(old_af)):
            if old_af.raw_get(index) != new_af.raw_get(index):
                raise SuspiciousModification("archive update changes existing /AF entries")
        for index in range(len(old_af), len(new_af)):
            value = new_af.raw_get(index)
            if not isinstance(value, generic.IndirectObject):
                raise SuspiciousModification("associated file specification must be indirect")
            added.add(value.reference)
        return refs

    def _file_spec(self, *, old, ref: generic.Reference) -> list[generic.Reference]:
        refs = self._fresh(old, ref)
        spec = ref.get_object()
        if not isinstance(spec, generic.DictionaryObject) or spec.get("/Type") != "/Filespec":
            raise SuspiciousModification("added attachment is not a file specification")
        if str(spec.get("/AFRelationship", "")) not in ALLOWED_RELATIONSHIPS:
            raise SuspiciousModification("added attachment is not a data file")
        if set(spec.keys()) - {"/Type", "/F", "/UF", "/Desc", "/EF", "/AFRelationship"}:
            raise SuspiciousModification("added attachment carries unexpected entries")
        ef = spec["/EF"]
        if set(ef.keys()) - {"/F", "/UF"}:
            raise SuspiciousModification("added attachment carries unexpected entries")
        for key in ef:
            refs += self._fresh(old, ef.raw_get(key))
            stream = ef[key]
            if not isinstance(stream, generic.StreamObject) or str(stream.get("/Subtype")) not in RECORD_MIME_TYPES:
                raise SuspiciousModification("added attachment is not JSON or XML")
        return refs

    def _output_intents(self, *, old, old_root, new_root) -> list[generic.Reference]:
        if "/OutputIntents" in old_root:
            raise SuspiciousModification("archive update replaces the output intents")
        refs = self._fresh(old, new_root.raw_get("/OutputIntents"))
        intents = new_root["/OutputIntents"]
        if not isinstance(intents, generic.ArrayObject) or len(intents) != 1:
            raise SuspiciousModification("unexpected output intents")
        refs += self._fresh(old, intents.raw_get(0))
        intent = intents[0]
        refs += self._fresh(old, intent.raw_get("/DestOutputProfile"))
        profile = intent["/DestOutputProfile"].data
        if hashlib.sha256(profile).hexdigest() not in self.profile_digests:
            raise SuspiciousModification("the added output intent is not the standard sRGB profile")
        return refs


def _get(dictionary, key: str, default):
    # DictionaryObject.get hands back unresolved references; indexing resolves them
    return dictionary[key] if key in dictionary else default


def _raw(dictionary, key: str):
    try:
        return dictionary.raw_get(key)
    except KeyError:
        return None


def _flat_tree(tree) -> dict[str, generic.PdfObject]:
    if not isinstance(tree, generic.DictionaryObject) or "/Kids" in tree:
        raise SuspiciousModification("nested attachment trees are not allowed in archive updates")
    values = _get(tree, "/Names", generic.ArrayObject())
    return {str(values[i]): values.raw_get(i + 1) for i in range(0, len(values) - 1, 2)}


def archive_diff_policy() -> StandardDiffPolicy:
    """pyHanko's default policy plus `ArchiveRecordRule` (the catalog rule leaves its keys to it)."""
    rules = [
        CatalogModificationRule(ignored_keys=ROOT_EXEMPT_STRICT_COMPARISON | ARCHIVE_CATALOG_KEYS)
        if isinstance(rule, CatalogModificationRule)
        else rule
        for rule in DEFAULT_DIFF_POLICY.global_rules
    ]
    return StandardDiffPolicy(global_rules=[*rules, ArchiveRecordRule()], form_rule=DEFAULT_DIFF_POLICY.form_rule)


# ---------------------------------------------------------------------------------------------
# Long-term care
# ---------------------------------------------------------------------------------------------


def lta_renewal_needed(*, pdf: bytes, horizon_days: int = 90, now: datetime | None = None) -> bool:
    """True when the latest document timestamp's TSA certificate expires within `horizon_days`.

    A document without a document timestamp has nothing to renew (False): making a B-B or B-T document
    B-LTA is the workflow's decision, not a renewal. An unreadable timestamp counts as needing renewal.
    """
    now = now or datetime.now(UTC)
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    stamps = reader.embedded_timestamp_signatures
    if not stamps:
        return False
    latest = max(stamps, key=lambda embedded: embedded.signed_revision)
    try:
        expires = latest.signer_cert.not_valid_after
    except (ValueError, KeyError, TypeError):
        return True
    return expires - now <= timedelta(days=horizon_days)
