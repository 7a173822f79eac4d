"""What the file itself may contain around its signatures (runs inside the verifier's child).

pyHanko judges each signature against the revisions after it; these rules judge the file as a whole:

- **structure**: every object of every revision parses strictly (a dictionary with a key twice is read
  first-wins by some readers and last-wins by others, so it is never accepted), the page and structure
  trees have no loops;
- **the end of the file**: the file ends where its last revision ends (`startxref` of that revision and
  `%%EOF`, nothing else): bytes or objects after it are not part of any revision a signature could cover;
- **after the last signature** only validation data (DSS/VRI) and document timestamps may follow (and
  dsign's own archive record, see below). Everything else — a new or changed form or signature field, an
  annotation, page content, attachments, objects nothing refers to — is named, and the document is not
  valid. A document timestamp's own field must be invisible;
- **attachments**: none, except dsign's two signing records (`signing-record.json`, `signing-record.xml`)
  added together in one update after the last signature, both parsing, the record naming only
  signature fields of this document;
- **signature containers**: the space reserved for a signature (`/Contents`) after the CMS data is zeros.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfDecodeLimitError
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel, SuspiciousModification

from signing.verification_common import PARSE_ERRORS, short
from signing.verification_patches import orphaned_refs

__all__ = [
    "MAX_STRUCTURE_NODES",
    "after_last_signature",
    "attachments_check",
    "file_end_is_clean",
    "padding_problems",
    "signatures_after_timestamp",
    "structure_problems",
]

MAX_STRUCTURE_NODES = 1_000_000
RECORD_NAMES = ("signing-record.json", "signing-record.xml")
_DUPLICATE_KEY = "Multiple definitions in dictionary"
_WS = rb"[\x00\t\n\f\r ]"
_TABLE_TAIL = re.compile(
    rb"%s*(?:trailer)?%s*<<((?:(?!obj|stream|startxref).)*)>>%s*startxref%s+(\d+)%s+%%%%EOF%s*\Z" % ((_WS,) * 6), re.S
)
_STREAM_TAIL = re.compile(rb"%s*(?:endobj)?%s*startxref%s+(\d+)%s+%%%%EOF%s*\Z" % ((_WS,) * 5), re.S)


# ---------------------------------------------------------------------------------------------
# Structure
# ---------------------------------------------------------------------------------------------


def structure_problems(*, reader) -> list[tuple[str, str]]:
    """Why the document's structure cannot be trusted (empty when it can).

    pyHanko reads objects lazily, so a broken object stream, a duplicated key or a loop in the page or
    structure tree may never be touched by signature validation; a strict verifier refuses such a file.
    """
    xrefs = reader.xrefs
    loaded = 0
    for revision in range(xrefs.total_revisions):
        for ref in xrefs.explicit_refs_in_revision(revision):
            loaded += 1
            if loaded > MAX_STRUCTURE_NODES:
                return [("damaged_document", "too many objects")]
            try:
                reader.get_object(ref)
            except PdfDecodeLimitError:
                raise
            except PARSE_ERRORS as exc:
                return [_parse_problem(exc)]
    root = reader.root
    for key, children in (("/Pages", "/Kids"), ("/StructTreeRoot", "/K")):
        if key in root:
            problem = _tree_loop(start=root.raw_get(key), children=children)
            if problem:
                return [("damaged_document", problem)]
    return []


def _parse_problem(exc: BaseException) -> tuple[str, str]:
    text = short(exc)
    if _DUPLICATE_KEY in str(exc):
        return "duplicate_keys", text.split(" for key ")[-1] if " for key " in text else text
    return "damaged_document", text


def parse_problem(exc: BaseException) -> tuple[str, str]:
    """The problem a parse error met anywhere in the analysis stands for."""
    return _parse_problem(exc)


def _tree_loop(*, start, children: str) -> str:
    seen: set[tuple[int, int]] = set()
    stack = [start]
    while stack:
        if len(seen) > MAX_STRUCTURE_NODES:
            return "tree too large"
        node = stack.pop()
        if isinstance(node, generic.IndirectObject):
            key = (node.idnum, node.generation)
            if key in seen:
                return f"loop in {children} tree at object {node.idnum}"
            seen.add(key)
            try:
                node = node.get_object()
            except PARSE_ERRORS as exc:
                return short(exc)
        if isinstance(node, generic.ArrayObject):
            stack.extend(node.raw_get(index) for index in range(len(node)))
        elif isinstance(node, generic.DictionaryObject) and children in node:
            stack.append(node.raw_get(children))
    return ""


# ---------------------------------------------------------------------------------------------
# The end of the file
# ---------------------------------------------------------------------------------------------


def file_end_is_clean(*, data: bytes, reader) -> bool:
    """The file ends with its last revision: that revision's trailer, `startxref` to it, `%%EOF`."""
    xrefs = reader.xrefs
    last = xrefs.get_xref_container_info(xrefs.total_revisions - 1)
    tail = data[last.end_location :]
    pattern = _STREAM_TAIL if last.stream_ref is not None and last.xref_section_type.name == "STREAM" else _TABLE_TAIL
    match = pattern.match(tail)
    if match is None:
        return False
    return int(match.groups()[-1]) == last.declared_startxref


# ---------------------------------------------------------------------------------------------
# After the last signature
# ---------------------------------------------------------------------------------------------


def after_last_signature(*, reader, entries: list[dict], policy, archive_revision: int | None) -> list[tuple[str, str]]:
    """Problems of the revisions after the last approval signature (empty: only DSS and timestamps)."""
    signed = [entry["revision"] for entry in entries if entry.get("kind") != "/DocTimeStamp" and entry["revision"] >= 0]
    if not signed:
        return []
    timestamps = {entry["revision"]: entry for entry in entries if entry.get("kind") == "/DocTimeStamp"}
    problems: list[tuple[str, str]] = []
    for revision in range(max(signed) + 1, reader.xrefs.total_revisions):
        problems += _revision_problems(
            reader=reader,
            revision=revision,
            pair=policy.pair(reader, revision),
            timestamp=timestamps.get(revision),
            archive=revision == archive_revision,
        )
    # one sentence per kind of problem, the details joined
    merged: dict[str, list[str]] = {}
    for code, detail in problems:
        merged.setdefault(code, [])
        if detail and detail not in merged[code]:
            merged[code].append(detail)
    return [(code, ", ".join(details)) for code, details in merged.items()]


def signatures_after_timestamp(*, entries: list[dict]) -> list[tuple[str, str]]:
    """Approval signatures made after a document timestamp. dsign timestamps a document only once every seat
    has signed (and renews only that), so a later signature is someone filling a field of a closed document,
    e.g. a seat that was not needed: DocMDP P=2 lets anyone sign an existing field, dsign does not."""
    stamped = [e["revision"] for e in entries if e.get("kind") == "/DocTimeStamp" and e["revision"] >= 0]
    if not stamped:
        return []
    late = [
        entry["field"] for entry in entries if entry.get("kind") != "/DocTimeStamp" and entry["revision"] > min(stamped)
    ]
    return [("signed_after_timestamp", ", ".join(late))] if late else []


def _revision_problems(*, reader, revision: int, pair, timestamp: dict | None, archive: bool) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    try:
        orphans = orphaned_refs(reader.get_historical_resolver(revision))
    except PARSE_ERRORS:
        orphans = set()
    if orphans:
        problems.append(("unreferenced_data", str(len(orphans))))
    result = pair.result
    if not isinstance(result, SuspiciousModification | DiffResult):
        return [*problems, ("after_last_other", "unreadable changes")]
    allowed_fields = {timestamp["field"]} if timestamp is not None else set()
    # a document timestamp creates its own (signature) field: form-filling level, for that field only
    allowed = ModificationLevel.FORM_FILLING if timestamp is not None else ModificationLevel.LTA_UPDATES
    if isinstance(result, SuspiciousModification) or result.modification_level > allowed:
        problems += _describe(reader=reader, revision=revision, skip_fields=allowed_fields) or [
            ("after_last_other", "")
        ]
    else:
        # every field touched, even an invisible new one pyHanko clears as an LTA update (it can carry actions)
        before = reader.get_historical_resolver(revision - 1)
        created = {u.field_name for u in pair.updates if u.field_name and before.is_ref_unassignable(u.updated_ref)}
        touched = set(result.changed_form_fields) | created
        for name in sorted(touched - allowed_fields):
            problems.append(
                ("after_last_signature_field" if name in _signature_field_names(reader) else "after_last_fields", name)
            )
    if timestamp is not None and timestamp.get("embedded") is not None:
        if not _invisible(timestamp["embedded"]):
            problems.append(("after_last_visible_timestamp", timestamp["field"]))
        if _has_actions(timestamp["embedded"].sig_field):
            problems.append(("after_last_actions", timestamp["field"]))
    if not archive:
        added = _attachment_names_at(reader, revision) - _attachment_names_at(reader, revision - 1)
        if added:
            problems.append(("after_last_attachments", ", ".join(sorted(added))))
    return problems


def _attachment_names_at(reader, revision: int) -> set[str]:
    try:
        return _attachment_names(reader.get_historical_resolver(revision).root)
    except PARSE_ERRORS:
        return {"(unreadable attachment list)"}


def _signature_field_names(reader) -> set[str]:
    from pyhanko.sign.fields import enumerate_sig_fields

    try:
        return {name for name, _, _ in enumerate_sig_fields(reader)}
    except PARSE_ERRORS:
        return set()


def _has_actions(widget) -> bool:
    try:
        return "/A" in widget or "/AA" in widget
    except PARSE_ERRORS:
        return True


def _invisible(embedded) -> bool:
    widget = embedded.sig_field
    try:
        rect = [float(value) for value in widget.get("/Rect", [0, 0, 0, 0])]
        if len(rect) == 4 and (rect[2] - rect[0]) * (rect[3] - rect[1]) == 0:
            return True
        flags = int(widget.get("/F", 0))
        return bool(flags & 2)  # Hidden
    except PARSE_ERRORS:
        return False


_ANNOTATION_WORDS = {
    "/Link": "link",
    "/FreeText": "text box",
    "/Stamp": "stamp",
    "/Square": "drawing",
    "/Circle": "drawing",
    "/Ink": "drawing",
    "/Line": "drawing",
    "/Polygon": "drawing",
    "/PolyLine": "drawing",
    "/Text": "note",
    "/FileAttachment": "attached file",
    "/Screen": "media",
    "/RichMedia": "media",
    "/Popup": "note",
    "/Highlight": "highlight",
    "/Redact": "redaction",
}


def _describe(*, reader, revision: int, skip_fields: set[str]) -> list[tuple[str, str]]:
    """What a refused revision changed, in words: fields, annotations, pages, catalogue entries."""
    history = reader.get_historical_resolver(revision)
    before = reader.get_historical_resolver(revision - 1)
    found: list[tuple[str, str]] = []
    for ref in reader.xrefs.explicit_refs_in_revision(revision):
        try:
            obj = history(ref)
        except PARSE_ERRORS:
            continue
        if isinstance(obj, generic.IndirectObject):
            obj = obj.get_object()
        if not isinstance(obj, generic.DictionaryObject):
            continue
        kind, subtype = obj.get("/Type"), obj.get("/Subtype")
        if subtype == "/Widget" or "/FT" in obj:
            name = _field_name(obj)
            if name in skip_fields:
                continue
            if _field_type(obj) == "/Sig":
                found.append(("after_last_signature_field", name))
            else:
                found.append(("after_last_fields", name))
        elif kind == "/Annot" or subtype in _ANNOTATION_WORDS:
            found.append(("after_last_annotations", _ANNOTATION_WORDS.get(str(subtype), str(subtype).lstrip("/"))))
        elif kind == "/Page":
            if _page_changed_beyond_annotations(old=_historical(before, ref), new=obj):
                found.append(("after_last_page", ""))
        elif kind in ("/Filespec", "/EmbeddedFile"):
            found.append(
                ("after_last_attachments", str(obj.get("/UF", obj.get("/F", ""))) if kind == "/Filespec" else "")
            )
        elif kind == "/Catalog":
            found += _catalog_changes(old=before.root, new=obj)
        elif kind == "/Action" or "/JS" in obj or "/URI" in obj or "/Launch" in obj:
            found.append(("after_last_actions", str(obj.get("/S", "")).lstrip("/")))
    return found


def _historical(history, ref):
    try:
        value = history(ref)
        return value.get_object() if isinstance(value, generic.IndirectObject) else value
    except PARSE_ERRORS:
        return None


def _page_changed_beyond_annotations(*, old, new) -> bool:
    """A page rewritten only to list new annotations is reported by those annotations, not as page content."""
    if not isinstance(old, generic.DictionaryObject):
        return True
    keys = (set(old.keys()) | set(new.keys())) - {"/Annots"}
    return any((old.raw_get(k) if k in old else None) != (new.raw_get(k) if k in new else None) for k in keys)


_CATALOG_WORDS = {
    "/OpenAction": "after_last_actions",
    "/AA": "after_last_actions",
    "/Names": "after_last_attachments",
    "/Pages": "after_last_page",
    "/AcroForm": "after_last_fields",
}
_CATALOG_HARMLESS = {"/DSS", "/Extensions", "/Metadata", "/Version"}


def _catalog_changes(*, old, new) -> list[tuple[str, str]]:
    found = []
    for key in set(old.keys()) | set(new.keys()):
        if key in _CATALOG_HARMLESS:
            continue
        before = old.raw_get(key) if key in old else None
        after = new.raw_get(key) if key in new else None
        if before != after:
            code = _CATALOG_WORDS.get(key, "after_last_other")
            found.append((code, str(key).lstrip("/") if code in ("after_last_other", "after_last_actions") else ""))
    return found


def _field_name(obj) -> str:
    node, parts, hops = obj, [], 0
    while isinstance(node, generic.DictionaryObject) and hops < 32:
        if "/T" in node:
            parts.append(str(node["/T"]))
        node = node.get("/Parent")
        node = node.get_object() if isinstance(node, generic.IndirectObject) else node
        hops += 1
    return ".".join(reversed(parts)) or "(unnamed)"


def _field_type(obj) -> str:
    node, hops = obj, 0
    while isinstance(node, generic.DictionaryObject) and hops < 32:
        if "/FT" in node:
            return str(node["/FT"])
        node = node.get("/Parent")
        node = node.get_object() if isinstance(node, generic.IndirectObject) else node
        hops += 1
    return ""


# ---------------------------------------------------------------------------------------------
# Attachments
# ---------------------------------------------------------------------------------------------


def _attachment_names(root) -> set[str]:
    """Names in the EmbeddedFiles tree; a nested tree counts as one unnamed attachment list."""
    try:
        if "/Names" not in root or "/EmbeddedFiles" not in root["/Names"]:
            return set()
        tree = root["/Names"]["/EmbeddedFiles"]
        if "/Kids" in tree:
            return {"(nested attachment list)"}
        values = tree["/Names"] if "/Names" in tree else generic.ArrayObject()
        return {str(values[i]) for i in range(0, len(values) - 1, 2)}
    except PARSE_ERRORS:
        return {"(unreadable attachment list)"}


def attachment_names(root) -> set[str]:
    return _attachment_names(root)


def attachments_check(*, reader, entries: list[dict]) -> tuple[list[tuple[str, str]], int | None]:
    """Problems with the document's attachments, and the revision of a genuine-looking dsign archive record.

    The record is accepted only as dsign writes it: both files, added in one revision after the last
    signature, nothing else attached, the JSON an object whose signed decisions of the latest round name
    signature fields of this document, the XML well-formed.
    """
    names = _attachment_names(reader.root)
    if not names:
        return [], None
    signed = [entry["revision"] for entry in entries if entry.get("kind") != "/DocTimeStamp" and entry["revision"] >= 0]
    others = sorted(names - set(RECORD_NAMES))
    if others:
        return [("attachment_present", ", ".join(others))], None
    if names != set(RECORD_NAMES) or not signed:
        return [("record_not_genuine", ", ".join(sorted(names)))], None
    revision = _revision_adding(reader=reader, names=names)
    if revision is None or revision <= max(signed):
        return [("record_not_genuine", "added before the last signature or in parts")], None
    fields = {entry["field"] for entry in entries}
    problem = _record_problem(reader=reader, fields=fields)
    if problem:
        return [("record_not_genuine", problem)], None
    return [], revision


def _revision_adding(*, reader, names: set[str]) -> int | None:
    for revision in range(reader.xrefs.total_revisions - 1, 0, -1):
        try:
            earlier = _attachment_names(reader.get_historical_resolver(revision - 1).root)
            now = _attachment_names(reader.get_historical_resolver(revision).root)
        except PARSE_ERRORS:
            return None
        if now == names and not earlier:
            return revision
        if earlier != names:
            return None
    return None


def _record_problem(*, reader, fields: set[str]) -> str:
    try:
        values = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
        files = {str(values[i]): values[i + 1] for i in range(0, len(values) - 1, 2)}
        raw_json = files[RECORD_NAMES[0]]["/EF"]["/F"].data
        raw_xml = files[RECORD_NAMES[1]]["/EF"]["/F"].data
    except (KeyError, *PARSE_ERRORS) as exc:
        return f"unreadable ({short(exc)})"
    try:
        record = json.loads(raw_json)
        ET.fromstring(raw_xml)  # noqa: S314 - parsed inside the sandboxed, memory-limited verifier child
    except (ValueError, ET.ParseError) as exc:
        return f"does not parse ({short(exc)})"
    if not isinstance(record, dict) or not isinstance(record.get("decisions", []), list):
        return "not a signing record"
    decisions = [d for d in record.get("decisions", []) if isinstance(d, dict)]
    latest = max((d.get("round") or 0 for d in decisions if isinstance(d.get("round"), int)), default=0)
    named = {d.get("field") for d in decisions if d.get("status") == "signed" and d.get("round", 0) == latest}
    unknown = sorted(str(name) for name in named - fields)
    if unknown:
        return "names signatures this document does not have: " + ", ".join(unknown)
    return ""


# ---------------------------------------------------------------------------------------------
# Signature containers
# ---------------------------------------------------------------------------------------------


def padding_problems(*, entries: list[dict]) -> list[tuple[str, str]]:
    """Fields whose reserved signature space carries data after the CMS structure."""
    hidden = []
    for entry in entries:
        embedded = entry.get("embedded")
        if embedded is None:
            continue
        try:
            contents = bytes(embedded.sig_object.raw_get("/Contents").original_bytes)
        except (AttributeError, *PARSE_ERRORS):
            continue
        length = _der_length(contents)
        if length is None or contents[length:].strip(b"\x00"):
            hidden.append(entry["field"])
    return [("contents_padding", ", ".join(hidden))] if hidden else []


def _der_length(data: bytes) -> int | None:
    if len(data) < 2 or data[0] != 0x30:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return None
    return 2 + count + int.from_bytes(data[2 : 2 + count], "big")
