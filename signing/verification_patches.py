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
  that nothing reaches): pyHanko clears them as harmless, dsign names them.
"""

import binascii
import functools

from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel, SuspiciousModification
from pyhanko.sign.diff_analysis import policies as _policies
from pyhanko.sign.diff_analysis.policy_api import DiffPolicy

from signing.verification_common import PARSE_ERRORS as _PARSE_ERRORS

__all__ = ["TARGETS", "LinearDiffPolicy", "install_fast_paths", "orphaned_refs", "warm_up"]

# upstream distribution -> version each adaptation below was written and tested against
TARGETS = {"pyHanko": "0.38.0", "asn1crypto": "1.5.1"}
# the upstream code each adaptation replaces or depends on -> SHA-256 (first 16 hex digits) of its source
UPSTREAM_SOURCES = {
    "pyhanko.pdf_utils.generic:read_hex_string_from_stream": "2004d63b8e1ce3d9",
    "asn1crypto.x509:NameTypeAndValue._ldap_string_prep": "1e534b7794dcfc3f",
    "pyhanko.sign.diff_analysis.policies:StandardDiffPolicy.review_file": "f125c657b4de171c",
    "pyhanko.sign.diff_analysis.policies:StandardDiffPolicy.apply": "8151331fb16fc7e4",
    "pyhanko.sign.diff_analysis.policies:_find_orphans": "a6f28fa9ffbc011c",
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
