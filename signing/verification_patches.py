"""Adaptations of pyHanko 0.38 / asn1crypto 1.5 internals the verifier relies on, one section each.

Every adaptation names the upstream version it was written against (`TARGETS`); each has a test in
tests/signing/test_verification_patches.py that fails when the installed upstream changes (version or the
source of the replaced function), so the adaptation is looked at again instead of silently drifting:

- `_read_hex_string_fast` replaces `pyhanko.pdf_utils.generic.read_hex_string_from_stream` (one slice at a
  time instead of one byte at a time: signature /Contents is most of the parsing time of a signed PDF);
- `_name_prep` memoises `asn1crypto.x509.NameTypeAndValue._ldap_string_prep` per string;
- `LinearDiffPolicy` wraps `StandardDiffPolicy.review_file`, which diffs the signed revision against every
  later revision for every signature (quadratic in the number of signatures): here each consecutive pair
  of revisions is diffed once per document and every signature combines the pairs after its revision,
  applying its own field locks (FieldMDP) and certification (DocMDP) to the recorded form updates;
- `orphaned_refs` is `pyhanko.sign.diff_analysis.policies._find_orphans` (objects written in a revision
  that nothing reaches): pyHanko clears them as harmless, dsign names them;
- most of what stayed quadratic inside each pair's diff (issue 17: 100 signatures in 2 s) is gone, with
  pyHanko's verdict unchanged (what remains: each revision still lists every form field and reads the
  page with its widgets once per view): the paths to an object (`_usages_of_ref`) are found by pyHanko's
  own walk entered only where the object can be reached (a reverse index of references kept revision by
  revision), signature fields a revision does not touch are not compared again (`_list_changed_fields`),
  revision look-ups are remembered (`_remembered`), an object stream's index is read once
  (`_get_object_from_stream_indexed`), a historical object is parsed once (`_get_object_remembered`).
  Each section says why the result is pyHanko's.
"""

import binascii
import functools
import io as _io

from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils import reader as _reader_module
from pyhanko.pdf_utils import xref as _xref_module
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel, SuspiciousModification
from pyhanko.sign.diff_analysis import form_rules_api as _form_rules_module
from pyhanko.sign.diff_analysis import policies as _policies
from pyhanko.sign.diff_analysis.policy_api import DiffPolicy

from signing.verification_common import PARSE_ERRORS as _PARSE_ERRORS

__all__ = ["ORIGINALS", "TARGETS", "LinearDiffPolicy", "install_fast_paths", "orphaned_refs", "warm_up"]

# upstream distribution -> version each adaptation below was written and tested against
TARGETS = {"pyHanko": "0.38.0", "asn1crypto": "1.5.1"}
# the upstream code each adaptation replaces or depends on -> SHA-256 (first 16 hex digits) of its source
UPSTREAM_SOURCES = {
    "pyhanko.pdf_utils.generic:read_hex_string_from_stream": "2004d63b8e1ce3d9",
    "asn1crypto.x509:NameTypeAndValue._ldap_string_prep": "1e534b7794dcfc3f",
    "pyhanko.sign.diff_analysis.policies:StandardDiffPolicy.review_file": "f125c657b4de171c",
    "pyhanko.sign.diff_analysis.policies:StandardDiffPolicy.apply": "8151331fb16fc7e4",
    "pyhanko.sign.diff_analysis.policies:_find_orphans": "a6f28fa9ffbc011c",
    "pyhanko.pdf_utils.reader:HistoricalResolver._load_reverse_xref_cache": "7a0a27ccb00c0cc0",
    "pyhanko.pdf_utils.reader:HistoricalResolver._get_usages_of_ref": "c8b4e2bd7cb4b3fb",
    "pyhanko.pdf_utils.reader:PdfFileReader._get_object_from_stream": "985c7933a27ed6c9",
    "pyhanko.pdf_utils.reader:PdfFileReader.get_object": "97f0ed20bb92661b",
    "pyhanko.pdf_utils.xref:XRefCache.get_last_change": "683e48adcd97e634",
    "pyhanko.pdf_utils.xref:XRefCache.get_introducing_revision": "8cb102a609e1f4f0",
    "pyhanko.sign.diff_analysis.form_rules_api:_list_fields": "2343388e11091b75",
    # what leaving untouched signature fields out of the comparison relies on (see that section)
    "pyhanko.sign.diff_analysis.rules.form_field_rules:SigFieldCreationRule.apply": "56993656bd826bdc",
    "pyhanko.sign.diff_analysis.rules.form_field_rules:SigFieldModificationRule.check_form_field": "77b28728f6f7a44e",
    "pyhanko.sign.diff_analysis.rules.form_field_rules:GenericFieldModificationRule.check_form_field": (
        "35f714a03f699cc8"
    ),
}

_PDF_WHITESPACE = b" \n\r\t\f\x00"
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_HEX_CHUNK = 1 << 16


def _read_hex_string_fast(stream):
    """pyHanko's hex-string reader, one slice at a time instead of one byte at a time.

    Same result and stream position as `generic.read_hex_string_from_stream` for strings made of
    hex digits and whitespace (signature /Contents: most of the parsing time of a signed PDF);
    anything else (a comment, a bad character, no closing `>`) goes to pyHanko's own reader.
    """
    start = stream.tell()
    stream.read(1)  # the opening "<"
    chunks = []
    while True:
        chunk = stream.read(_HEX_CHUNK)
        if not chunk:
            break
        end = chunk.find(b">")
        if end >= 0:
            chunks.append(chunk[:end])
            body = b"".join(chunks)
            digits = body.translate(None, _PDF_WHITESPACE)
            if digits.translate(None, _HEX_DIGITS):
                break
            stream.seek(start + 1 + len(body) + 1)
            if len(digits) % 2:
                digits += b"0"
            return generic.pdf_string(binascii.unhexlify(digits))
        chunks.append(chunk)
    stream.seek(start)
    return _ORIGINAL_HEX_READER(stream)


_ORIGINAL_HEX_READER = generic.read_hex_string_from_stream


_ORIGINAL_NAME_PREP = x509.NameTypeAndValue._ldap_string_prep


@functools.lru_cache(maxsize=4096)
def _name_prep_cached(value: str) -> str:
    return _ORIGINAL_NAME_PREP(None, value)


def _name_prep(self, value):
    # a pure function of the string (RFC 4518 preparation), yet recomputed for every parsed copy of a
    # name: each signature's CMS carries the same names, compared again and again while matching certificates
    if type(value) is str:
        return _name_prep_cached(value)
    return _ORIGINAL_NAME_PREP(self, value)


def install_fast_paths() -> None:
    """Speed-ups with unchanged results, for the verifier's processes (each child serves one request).

    pyHanko's hex-string reader is swapped for `_read_hex_string_fast`, and asn1crypto's name
    preparation is memoised per string.
    """
    generic.read_hex_string_from_stream = _read_hex_string_fast
    x509.NameTypeAndValue._ldap_string_prep = _name_prep
    _reader_module.HistoricalResolver._load_reverse_xref_cache = _load_reverse_xref_cache_lazily
    _reader_module.HistoricalResolver._get_usages_of_ref = _usages_of_ref
    _xref_module.XRefCache.get_last_change = _LAST_CHANGE
    _form_rules_module._list_fields = _list_changed_fields
    _reader_module.PdfFileReader._get_object_from_stream = _get_object_from_stream_indexed
    _reader_module.PdfFileReader.get_object = _get_object_remembered
    _xref_module.XRefCache.get_introducing_revision = _INTRODUCING


def warm_up() -> None:
    """Load everything a verification uses before the zygote forks, so no child pays for an import.

    A first analysis costs twice a later one mostly because of modules imported on first use (the
    archive diff rule pulls in pikepdf and lxml); a full throw-away verification gained nothing more.
    """
    import signing.archive
    import signing.encryption  # noqa: F401 - imported on first use by _encrypted_copy_payload

    install_fast_paths()
    signing.archive.archive_diff_policy()


# ---------------------------------------------------------------------------------------------
# Linear difference analysis
# ---------------------------------------------------------------------------------------------


class _RecordingFormRule:
    """The policy's form rule, keeping the form updates it approved for the pair being diffed."""

    def __init__(self, inner):
        self.inner = inner
        self.seen: list = []

    def apply(self, old, new):
        for level, update in self.inner.apply(old, new):
            self.seen.append(update)
            yield level, update


class _Unreadable:
    __slots__ = ("error",)

    def __init__(self, error: Exception):
        self.error = error


class _Pair:
    __slots__ = ("result", "updates")

    def __init__(self, result, updates):
        # DiffResult, the SuspiciousModification that refused the revision, or _Unreadable
        self.result = result
        self.updates = updates  # FormUpdate objects approved in this revision


class LinearDiffPolicy(DiffPolicy):
    """`StandardDiffPolicy` judged one consecutive pair of revisions at a time, each pair once per reader.

    `review_file(reader, base)` = the highest level of every pair after `base`, with the field locks and
    the certification of the signature applied to the form updates of those pairs exactly as pyHanko's
    `StandardDiffPolicy.apply` applies them (locked field changed, or an update not valid when certifying:
    refused). One instance serves one document (the pairs are cached by revision number).
    """

    def __init__(self, base: _policies.StandardDiffPolicy):
        self._recorder = _RecordingFormRule(base.form_rule) if base.form_rule is not None else None
        self.base = _policies.StandardDiffPolicy(
            global_rules=base.global_rules,
            form_rule=self._recorder,
            reject_object_freeing=base.reject_object_freeing,
            ignore_orphaned_objects=base.ignore_orphaned_objects,
        )
        self._pairs: dict[int, _Pair] = {}

    def apply(self, old, new, field_mdp_spec=None, doc_mdp=None) -> DiffResult:
        return self.base.apply(old, new, field_mdp_spec=field_mdp_spec, doc_mdp=doc_mdp)

    def pair(self, reader, revision: int) -> _Pair:
        """The diff of `revision` against the one before it (computed once)."""
        cached = self._pairs.get(revision)
        if cached is None:
            if self._recorder is not None:
                self._recorder.seen = []
            try:
                result = self.base.apply(
                    old=reader.get_historical_resolver(revision - 1), new=reader.get_historical_resolver(revision)
                )
            except SuspiciousModification as exc:
                result = exc
            except _PARSE_ERRORS as exc:
                result = _Unreadable(exc)  # raised again to every signature that needs this pair
            updates = list(self._recorder.seen) if self._recorder is not None else []
            cached = self._pairs[revision] = _Pair(result, updates)
        return cached

    def review_file(self, reader, base_revision, field_mdp_spec=None, doc_mdp=None):
        base = base_revision if isinstance(base_revision, int) else base_revision.revision
        level = ModificationLevel.NONE
        changed: set[str] = set()
        for revision in range(base + 1, reader.xrefs.total_revisions):
            pair = self.pair(reader, revision)
            if isinstance(pair.result, _Unreadable):
                raise pair.result.error
            if isinstance(pair.result, SuspiciousModification):
                return pair.result
            level = max(level, pair.result.modification_level)
            for update in pair.updates:
                name = update.field_name
                if name is not None and not update.valid_when_locked:
                    if field_mdp_spec is not None and field_mdp_spec.is_locked(name):
                        return SuspiciousModification(f"the form field {name} is locked")
                    changed.add(name)
                if doc_mdp is not None and not update.valid_when_certifying:
                    return SuspiciousModification(
                        f"update of {update.updated_ref} is not allowed after a certification signature"
                    )
        return DiffResult(level, changed)


def orphaned_refs(hist_rev) -> set:
    """Objects written in `hist_rev`'s revision that neither the trailer nor an updated object reaches."""
    return set(_policies._find_orphans(hist_rev))


# ---------------------------------------------------------------------------------------------
# Usages of an object, found from the objects that can reach it (not from a walk of every object)
# ---------------------------------------------------------------------------------------------
#
# pyHanko's `HistoricalResolver._load_reverse_xref_cache` walks every object of a revision, from the
# trailer, to record every path through which each object is reached; the difference analysis then asks
# for the paths of a few objects (those the next revision overrides, the fields and appearances it
# touches). Done for every revision, that walk is quadratic in the number of signatures. Here the walk is
# the same (`_paths_to`, pyHanko's traversal rules unchanged) but enters only objects from which the asked
# object can be reached at all, found in a reverse index of references that is kept up to date revision by
# revision (each revision re-reads only the objects it writes). pyHanko's walk keeps no state across
# branches (only the current path), so leaving out branches that cannot reach the object leaves that
# object's paths exactly as pyHanko records them. An object the strict walk would have failed to read is
# still refused: `verification_revisions.structure_problems` reads every object of every revision.

_TRAILER = "trailer"


def _direct_refs(obj) -> tuple[set, set]:
    """The indirect references inside `obj` itself (through direct dictionaries and arrays, not through
    other indirect objects), except /Parent entries, which pyHanko's walk never follows; and the same
    without those reached through a /P entry (a widget's page)."""
    found, not_via_p = set(), set()
    stack = [(obj, False)]
    while stack:
        node, via_p = stack.pop()
        if isinstance(node, generic.IndirectObject):
            found.add(node.reference)
            if not via_p:
                not_via_p.add(node.reference)
        elif isinstance(node, generic.DictionaryObject):
            stack.extend((value, via_p or key == "/P") for key, value in node.items() if key != "/Parent")
        elif isinstance(node, generic.ArrayObject):
            stack.extend((value, via_p) for value in node)
    return found, not_via_p


class _ReverseIndex:
    """For one reader: object -> the objects (or the trailer) whose own body refers to it, at one revision
    (`parents`; `parents_not_via_p` leaves out references made through a /P entry).

    Advanced one revision at a time (only the objects a revision writes or frees are read again); asking for
    an earlier revision than the last one built starts again from the first revision.
    """

    def __init__(self, reader):
        self.reader = reader
        self._reset()

    def _reset(self) -> None:
        self.revision = -1
        self.parents: dict = {}
        self.parents_not_via_p: dict = {}
        self.children: dict = {}

    def at(self, revision: int) -> "_ReverseIndex":
        if revision < self.revision:
            self._reset()
        while self.revision < revision:
            self._advance()
        return self

    def _advance(self) -> None:
        revision = self.revision + 1
        history = self.reader.get_historical_resolver(revision)
        updates = [(_TRAILER, _direct_refs(history.trailer_view))]
        for ref in _written_or_freed(self.reader, revision):
            try:
                updates.append((ref, _direct_refs(self._object_at(ref, revision, history))))
            except _PARSE_ERRORS:
                updates.append((ref, (set(), set())))  # the strict structure check reports it
        both = (self.parents, self.parents_not_via_p)
        for ref, kids in updates:
            for parents, old_kids in zip(both, self.children.get(ref, ((), ())), strict=True):
                for kid in old_kids:
                    holders = parents.get(kid)
                    if holders is not None:
                        holders.discard(ref)
            self.children[ref] = kids
            for parents, new_kids in zip(both, kids, strict=True):
                for kid in new_kids:
                    parents.setdefault(kid, set()).add(ref)
        self.revision = revision

    def _object_at(self, ref, revision: int, history):
        """`ref` as written in `revision`: the reader's cached object when no later revision overrides it."""
        try:
            last = self.reader.xrefs.get_last_change(ref)
        except KeyError:
            last = None
        return self.reader.get_object(ref) if last == revision else history(ref)


def _written_or_freed(reader, revision: int) -> set:
    xrefs = reader.xrefs
    return set(xrefs.explicit_refs_in_revision(revision)) | set(xrefs.refs_freed_in_revision(revision))


def _reverse_index(reader) -> _ReverseIndex:
    index = reader.__dict__.get("_dsign_reverse_index")
    if index is None:
        index = reader.__dict__["_dsign_reverse_index"] = _ReverseIndex(reader)
    return index


def _ancestors(parents: dict, refs) -> tuple[set, bool]:
    """Every object from which one of `refs` can be reached, and whether the trailer reaches one."""
    seen: set = set()
    stack = list(refs)
    from_trailer = False
    while stack:
        for holder in parents.get(stack.pop(), ()):
            if holder == _TRAILER:
                from_trailer = True
            elif holder not in seen:
                seen.add(holder)
                stack.append(holder)
    return seen, from_trailer


def _tree_nodes(resolver):
    """pyHanko's page-tree and structure-tree maps of `_load_reverse_xref_cache`, once per resolver."""
    cached = resolver.__dict__.get("_dsign_tree_nodes")
    if cached is not None:
        return cached
    misc = _reader_module.misc

    def page_tree_refs(pages_obj, path):
        for ix, kid in enumerate(pages_obj["/Kids"]):
            kid_path = path.cons("/Kids").cons(ix)
            if isinstance(kid, generic.IndirectObject):
                yield kid.reference, kid_path
            kid = kid.get_object()
            if kid.get("/Type", None) == "/Pages":
                yield from page_tree_refs(kid, kid_path)

    def struct_tree_refs(struct_elem):
        try:
            children = struct_elem["/K"]
        except KeyError:
            return
        if not isinstance(children, generic.ArrayObject):
            children = (children,)
        for child in children:
            child_ref = None
            if isinstance(child, generic.IndirectObject):
                child_ref = child.reference
                child = child.get_object()
            if not isinstance(child, generic.DictionaryObject):
                continue
            try:
                if child["/Type"] != "/StructElem":
                    continue
            except KeyError:
                pass
            if child_ref is not None:
                yield child_ref
            yield from struct_tree_refs(child)

    pages_ref = resolver.root.raw_get("/Pages")
    pages_path = misc.ConsList.sing("/Root").cons("/Pages")
    page_tree_nodes = {}
    if isinstance(pages_ref, generic.IndirectObject):
        page_tree_nodes[pages_ref.reference] = pages_path
    for ref, path in page_tree_refs(pages_ref.get_object(), pages_path):
        if ref in page_tree_nodes:
            raise misc.PdfReadError("Circular reference in page tree in mapping stage")
        page_tree_nodes[ref] = path
    struct_tree_nodes = set()
    try:
        struct_tree_root = resolver.root.raw_get("/StructTreeRoot").get_object()
        for ref in struct_tree_refs(struct_tree_root):
            if ref in struct_tree_nodes:
                raise misc.PdfReadError("Circular reference in structure tree in mapping stage")
            struct_tree_nodes.add(ref)
    except KeyError:
        pass
    cached = resolver.__dict__["_dsign_tree_nodes"] = (page_tree_nodes, struct_tree_nodes)
    return cached


def _paths_to(resolver, relevant: set) -> dict:
    """pyHanko's `_compute_paths_to_refs` from the trailer, entering only objects in `relevant`."""
    misc = _reader_module.misc
    page_tree_objs, struct_tree_objs = _tree_nodes(resolver)
    root_only = misc.ConsList.sing("/Root")
    collected: dict = {}
    Indirect, Dictionary, Array = generic.IndirectObject, generic.DictionaryObject, generic.ArrayObject

    def worth_entering(value) -> bool:
        # leaves and objects that cannot lead to `relevant` record nothing anyone asks for
        if isinstance(value, Indirect):
            return value.reference in relevant
        return isinstance(value, Dictionary | Array)

    def walk(obj, cur_path, seen_in_path, is_struct_tree):
        if isinstance(obj, Indirect):
            obj_ref = obj.reference
            if obj_ref in seen_in_path:
                return
            collected.setdefault(obj_ref, set()).add(cur_path)
            seen_in_path = seen_in_path.cons(obj_ref)
            obj = resolver(obj_ref)
            canonical_path = page_tree_objs.get(obj_ref, cur_path)
            if cur_path != canonical_path:
                return
            if not is_struct_tree and obj_ref in struct_tree_objs:
                return
        if isinstance(obj, Dictionary):
            for k, v in obj.items():
                if k == "/Parent" or (is_struct_tree and k == "/P") or not worth_entering(v):
                    continue
                walk(
                    v,
                    cur_path.cons(k),
                    seen_in_path,
                    is_struct_tree or (cur_path.head == "/StructTreeRoot" and k == "/K" and cur_path.tail == root_only),
                )
        elif isinstance(obj, Array):
            for ix, v in enumerate(obj):
                if worth_entering(v):
                    walk(v, cur_path.cons(ix), seen_in_path, is_struct_tree)

    walk(resolver.trailer_view, misc.ConsList.empty(), misc.ConsList.empty(), False)
    return collected


def _load_reverse_xref_cache_lazily(self):
    # the paths are found when asked for (`_usages_of_ref`); pyHanko answers "none" before this call
    if self._indirect_object_access_cache is None:
        self._indirect_object_access_cache = {}
        self.__dict__["_dsign_usages_ready"] = True


def _usages_of_ref(self, ref):
    if not self.__dict__.get("_dsign_usages_ready"):
        return _ORIGINAL_GET_USAGES(self, ref)
    cache = self._indirect_object_access_cache
    try:
        return cache[ref]
    except KeyError:
        pass
    ancestors, from_trailer = _ancestors(_reverse_index(self.reader).at(self.revision).parents, [ref])
    if not from_trailer:
        cache[ref] = set()
        return cache[ref]
    relevant = ancestors | {ref}
    collected = _paths_to(self, relevant)
    RawPdfPath = _reader_module.RawPdfPath
    # every object in `relevant` had all of its own ancestors entered too: its paths are complete
    for found in relevant:
        if found not in cache:
            cache[found] = {RawPdfPath(*reversed(list(p))) for p in collected.get(found, ())}
    return cache[ref]


# ---------------------------------------------------------------------------------------------
# Signature fields a revision does not touch are not compared again
# ---------------------------------------------------------------------------------------------
#
# pyHanko's form rule compares every field of the form in both revisions of every pair (quadratic in the
# number of signatures: each signature adds a field). For a SIGNATURE field whose dictionary is the same
# object in both revisions and from which no object the revision writes or frees can be reached (not
# counting /Parent, and /P, the widget's page: no field rule looks there), pyHanko's rules can only say
# "unchanged": the creation rule looks at new and deleted fields only; the signature-field rule compares
# identical dictionaries (`valid_when_locked` true), and approves the field's own reference, which the
# revision does not write, so it explains nothing; the generic rule skips signature fields. Such fields are
# left out of the comparison; every other field (and every field of another type) is compared as before.
# The set of touched objects is a superset (it is taken over the previous revision's references, plus the
# written objects themselves), so a touched field is never left out.


def _touched(resolver) -> set:
    cached = resolver.__dict__.get("_dsign_touched")
    if cached is None:
        written = _written_or_freed(resolver.reader, resolver.revision)
        index = _reverse_index(resolver.reader).at(resolver.revision - 1)
        ancestors, _ = _ancestors(index.parents_not_via_p, written)
        cached = resolver.__dict__["_dsign_touched"] = written | ancestors
    return cached


def _untouched_signature_field(spec) -> bool:
    old_ref, new_ref = spec.old_field_ref, spec.new_field_ref
    if spec.field_type != "/Sig" or old_ref is None or new_ref is None or old_ref != new_ref:
        return False
    new = new_ref.get_pdf_handler()
    if not isinstance(new, _reader_module.HistoricalResolver) or new.revision < 1:
        return False
    return new_ref not in _touched(new)


def _list_changed_fields(old_fields, new_fields, old_path, parent_name="", inherited_ft=None):
    for name, spec in _ORIGINAL_LIST_FIELDS(old_fields, new_fields, old_path, parent_name, inherited_ft):
        if not _untouched_signature_field(spec):
            yield name, spec


# ---------------------------------------------------------------------------------------------
# Objects of an object stream, found through the stream's index read once
# ---------------------------------------------------------------------------------------------
#
# `PdfFileReader._get_object_from_stream` decodes the object stream and parses its index (N pairs of
# numbers) up to the wanted object for every object it reads: quadratic in the size of the stream. Here
# the index is parsed once per stream and the object is read at its offset exactly as upstream reads it;
# anything unusual (a bad index, the object missing or at another index, an unreadable or forbidden
# object) is left to upstream's own function, so errors and strict-mode refusals stay upstream's.


def _get_object_from_stream_indexed(self, idnum, stmnum, idx):
    stream = generic.Reference(stmnum, 0, self).get_object()
    if not isinstance(stream, generic.StreamObject) or stream.get("/Type") != "/ObjStm":
        return _ORIGINAL_FROM_STREAM(self, idnum, stmnum, idx)
    indexes = self.__dict__.setdefault("_dsign_objstm_index", {})
    entry = indexes.get(stmnum)
    if entry is None or entry[0] is not stream:
        entry = indexes[stmnum] = (stream, *_object_stream_index(stream))
    _, data, positions = entry
    found = positions.get(idnum) if positions is not None else None
    if found is None or found[0] != idx:
        return _ORIGINAL_FROM_STREAM(self, idnum, stmnum, idx)
    data_stream = _io.BytesIO(data)
    data_stream.seek(found[1])
    try:
        obj = generic.read_object(data_stream, generic.Reference(idnum, 0, self))
    except (_reader_module.misc.PdfStreamError, _reader_module.misc.PdfReadError):
        return _ORIGINAL_FROM_STREAM(self, idnum, stmnum, idx)
    if isinstance(obj, generic.StreamObject | generic.IndirectObject):
        return _ORIGINAL_FROM_STREAM(self, idnum, stmnum, idx)
    return obj


def _object_stream_index(stream) -> tuple[bytes, dict | None]:
    """The decoded stream and {object number: (index, offset)} of the first occurrence of each number."""
    data = stream.read_data(_reader_module.DecodePurpose.OBJECT_STREAM)
    header = _io.BytesIO(data)
    misc = _reader_module.misc
    positions: dict = {}
    try:
        first, count = stream["/First"], stream["/N"]
        for index in range(count):
            misc.read_non_whitespace(header, seek_back=True)
            objnum = generic.NumberObject.read_from_stream(header)
            misc.read_non_whitespace(header, seek_back=True)
            offset = generic.NumberObject.read_from_stream(header)
            misc.read_non_whitespace(header, seek_back=True)
            positions.setdefault(objnum, (index, first + offset))
    except (ValueError, TypeError, KeyError):
        return data, None
    return data, positions


# ---------------------------------------------------------------------------------------------
# Historical objects parsed once
# ---------------------------------------------------------------------------------------------
#
# `PdfFileReader.get_object(ref, revision)` parses the object's historical version again on every call (its
# cache holds only the newest version of each object). Each historical view (one per revision) asks for it:
# a signature field written again by a later signature is parsed once per revision. The bytes at one place
# of the file always parse to the same object, so the parsed object is kept per place (the views copy it
# into their own objects, never change it); encrypted files are left to upstream.


def _get_object_remembered(
    self, ref, revision=None, never_decrypt=False, transparent_decrypt=True, as_metadata_stream=False
):
    if revision is None or self.encrypted:
        return _ORIGINAL_GET_OBJECT(self, ref, revision, never_decrypt, transparent_decrypt, as_metadata_stream)
    place = self.xrefs.get_historical_ref(ref, revision)
    if place is None:
        return _ORIGINAL_GET_OBJECT(self, ref, revision, never_decrypt, transparent_decrypt, as_metadata_stream)
    memo = self.__dict__.setdefault("_dsign_historical_objects", {})
    key = (ref.idnum, ref.generation, place, never_decrypt, transparent_decrypt, as_metadata_stream)
    try:
        return memo[key]
    except KeyError:
        pass
    obj = memo[key] = _ORIGINAL_GET_OBJECT(self, ref, revision, never_decrypt, transparent_decrypt, as_metadata_stream)
    return obj


# ---------------------------------------------------------------------------------------------
# Revision look-ups, remembered
# ---------------------------------------------------------------------------------------------
#
# `XRefCache.get_last_change` / `get_introducing_revision` scan every cross-reference section on each call
# (called for every object read through a historical view: linear per call, quadratic per document). The
# sections never change once read, so each answer is remembered per reference.


def _remembered(original, attribute: str):
    missing = object()

    def lookup(self, ref):
        memo = self.__dict__.get(attribute)
        if memo is None:
            memo = self.__dict__[attribute] = {}
        key = (ref.idnum, ref.generation)
        answer = memo.get(key, missing)
        if answer is missing:
            try:
                answer = original(self, ref)
            except KeyError:
                answer = None
            memo[key] = answer
        if answer is None:
            raise KeyError(ref)
        return answer

    lookup.__wrapped__ = original
    return lookup


_ORIGINAL_LOAD_REVERSE = _reader_module.HistoricalResolver._load_reverse_xref_cache
_ORIGINAL_GET_USAGES = _reader_module.HistoricalResolver._get_usages_of_ref
_ORIGINAL_LIST_FIELDS = _form_rules_module._list_fields
_ORIGINAL_FROM_STREAM = _reader_module.PdfFileReader._get_object_from_stream
_ORIGINAL_GET_OBJECT = _reader_module.PdfFileReader.get_object
_ORIGINAL_LAST_CHANGE = _xref_module.XRefCache.get_last_change
_ORIGINAL_INTRODUCING = _xref_module.XRefCache.get_introducing_revision
_LAST_CHANGE = _remembered(_ORIGINAL_LAST_CHANGE, "_dsign_last_change")
_INTRODUCING = _remembered(_ORIGINAL_INTRODUCING, "_dsign_introducing")

# the upstream functions `install_fast_paths` replaces (their sources are what UPSTREAM_SOURCES pins)
ORIGINALS = {
    "pyhanko.pdf_utils.generic:read_hex_string_from_stream": _ORIGINAL_HEX_READER,
    "asn1crypto.x509:NameTypeAndValue._ldap_string_prep": _ORIGINAL_NAME_PREP,
    "pyhanko.pdf_utils.reader:HistoricalResolver._load_reverse_xref_cache": _ORIGINAL_LOAD_REVERSE,
    "pyhanko.pdf_utils.reader:HistoricalResolver._get_usages_of_ref": _ORIGINAL_GET_USAGES,
    "pyhanko.pdf_utils.reader:PdfFileReader._get_object_from_stream": _ORIGINAL_FROM_STREAM,
    "pyhanko.pdf_utils.reader:PdfFileReader.get_object": _ORIGINAL_GET_OBJECT,
    "pyhanko.pdf_utils.xref:XRefCache.get_last_change": _ORIGINAL_LAST_CHANGE,
    "pyhanko.pdf_utils.xref:XRefCache.get_introducing_revision": _ORIGINAL_INTRODUCING,
    "pyhanko.sign.diff_analysis.form_rules_api:_list_fields": _ORIGINAL_LIST_FIELDS,
}
