"""Strict verification of signed PDFs: the verification report of DESIGN.md.

`verify_pdf_bytes` is the only entry point other apps should use. It never parses the PDF in the
calling process: `signing.verification_sandbox` runs every request in a forked, limited child of a warm
zygote (`signing.verify_worker`). `analyse_pdf` is the in-process analysis that child runs:

- `signing.verification_revisions`: the file as a whole (strict structure, no duplicated keys, the file
  ends where its last revision ends, only validation data and document timestamps after the last
  signature, no attachments but dsign's own signing record, nothing hidden in signature containers);
- `signing.verification_rules`: each signature and document timestamp, and the report;
- `signing.verification_patches`: the pyHanko adaptations (fast paths, linear difference analysis).

A file is never re-read leniently: hybrid-reference files (two cross-reference indexes of the same
objects, read differently by different viewers) are not judged valid. An encrypted copy made by
`signing.encryption` is a wrapper: its report describes the signed document inside, but the wrapper
itself is never valid (`"container": "encrypted_copy"`; extract the document and verify that).
"""

import asyncio
import base64
import json
from datetime import datetime
from io import BytesIO

from asn1crypto import crl, ocsp, x509
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.misc import PdfDecodeLimitError, PdfError, get_and_apply
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from signing import verification_revisions as revisions
from signing import verification_rules as rules
from signing.messages import problem_text
from signing.verification_common import PARSE_ERRORS, short
from signing.verification_patches import LinearDiffPolicy, install_fast_paths, warm_up
from signing.verification_sandbox import (
    EncryptedPDF,
    UnreadablePDF,
    indeterminate_report,
    outcome_to_report,
    run_worker,
    verifier_last_peak_rss_bytes,
    verifier_warm_up,
)

__all__ = [
    "EncryptedPDF",
    "UnreadablePDF",
    "analyse_pdf",
    "document_timestamp_level",
    "indeterminate_report",
    "install_fast_paths",
    "revocations_encode",
    "signature_level",
    "verifier_last_peak_rss_bytes",
    "verifier_warm_up",
    "verify_pdf_bytes",
    "warm_up",
]


def verify_pdf_bytes(
    *,
    data: bytes,
    trust_roots: list[x509.Certificate],
    lang: str = "en",
    timeout_s: float = 30,
    memory_limit_bytes: int = 1 << 30,
    password: str | None = None,
    revocations: list[dict] | None = None,
) -> dict:
    """Verify every signature in `data` against `trust_roots`; return the DESIGN.md report.

    `revocations`: certificates revoked by dsign's own CA, `[{"issuer": x509.Name, "serial": int,
    "revoked_at": datetime}]` (see `signing.selectors.verification_revocations`); a signature by one of
    them is valid only when a trusted timestamp proves it was made before the revocation.
    `password` opens an encrypted PDF; for an encrypted copy made by `signing.encryption` the signed
    document inside it is reported on (`"container": "encrypted_copy"`), the wrapper never valid.
    Raises `UnreadablePDF` (or `EncryptedPDF`) only; every other failure is an indeterminate report.
    Thread-safe; concurrent calls run in parallel children of the same zygote.
    """
    request = {
        "pdf": base64.b64encode(data).decode("ascii"),
        "trust_roots": [base64.b64encode(root.dump()).decode("ascii") for root in trust_roots],
        "lang": lang,
        "revocations": revocations_encode(revocations or []),
    }
    if password:
        request["password"] = password
    outcome = run_worker(
        payload=json.dumps(request).encode("ascii"),
        timeout_s=timeout_s,
        memory_limit_bytes=memory_limit_bytes,
        lang=lang,
    )
    return outcome_to_report(outcome=outcome, lang=lang)


def revocations_encode(revocations: list[dict]) -> list[dict]:
    return [
        {
            "issuer": base64.b64encode(item["issuer"].dump()).decode("ascii"),
            "serial": int(item["serial"]),
            "revoked_at": item["revoked_at"].isoformat(),
        }
        for item in revocations
    ]


def revocations_decode(encoded: list[dict]) -> dict[tuple[str, int], datetime]:
    """`{(issuer name (hashable form), serial): revoked_at}` from the request (inside the child)."""
    found = {}
    for item in encoded:
        issuer = x509.Name.load(base64.b64decode(item["issuer"]))
        found[(issuer.hashable, int(item["serial"]))] = datetime.fromisoformat(item["revoked_at"])
    return found


# ---------------------------------------------------------------------------------------------
# In-process analysis (runs inside the worker)
# ---------------------------------------------------------------------------------------------


def analyse_pdf(
    *,
    data: bytes,
    trust_roots: list[x509.Certificate],
    lang: str = "en",
    password: str | None = None,
    revocations: dict | None = None,
) -> dict:
    """Verify `data` in this process. Raises UnreadablePDF; may raise MemoryError/RecursionError."""
    revocations = revocations or {}
    try:
        reader = open_reader(data=data, password=password)
        if reader.encrypted:
            inner = _encrypted_copy_payload(reader=reader)
            if inner is not None:
                return _as_wrapper(
                    report=analyse_pdf(data=inner, trust_roots=trust_roots, lang=lang, revocations=revocations),
                    lang=lang,
                )
        return asyncio.run(
            _analyse(reader=reader, data=data, trust_roots=trust_roots, lang=lang, revocations=revocations)
        )
    except PdfDecodeLimitError:
        # pyHanko's decompression-bomb guard: a real PDF, but not one we will inflate
        return indeterminate_report(code="too_complex", lang=lang)
    except PdfError as exc:
        # broken structure met while looking for signatures (loops, dangling objects, duplicated keys)
        code, detail = revisions.parse_problem(exc)
        return indeterminate_report(code=code, detail=detail, lang=lang)


def _as_wrapper(*, report: dict, lang: str) -> dict:
    """The encrypted copy's report: the inner document's, but the wrapper itself is not valid."""
    report["container"] = "encrypted_copy"
    report["inner_valid"] = report["valid"]
    report["valid"] = False
    report["status"] = "invalid" if report["status"] == "valid" else report["status"]
    report["problems"].insert(0, problem_text(code="wrapper", lang=lang))
    report["problem_codes"].insert(0, "wrapper")
    return report


def _encrypted_copy_payload(*, reader) -> bytes | None:
    """The signed PDF inside a `signing.encryption` wrapper (no signatures of its own), else None."""
    from signing.encryption import SIGNED_ATTACHMENT_NAME

    try:
        if str(reader.root["/Collection"]["/D"]) != SIGNED_ATTACHMENT_NAME or "/AcroForm" in reader.root:
            return None
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
        if len(names) != 2 or str(names[0]) != SIGNED_ATTACHMENT_NAME:
            return None
        return names[1]["/EF"]["/F"].data
    except PdfDecodeLimitError:
        raise
    except (KeyError, *PARSE_ERRORS):
        return None  # not our wrapper: judged as the document it is


def open_reader(*, data: bytes, password: str | None = None):
    """A strict reader over `data` (never a lenient one: see the module docstring)."""
    if b"%PDF-" not in data[:1024]:
        raise UnreadablePDF("no PDF header")
    try:
        reader = PdfFileReader(BytesIO(data), strict=True)
    except PdfDecodeLimitError:
        raise
    except PARSE_ERRORS as exc:
        raise UnreadablePDF(short(exc)) from exc
    try:
        encrypted = reader.encrypted
    except PdfDecodeLimitError:
        raise
    except PARSE_ERRORS as exc:
        raise UnreadablePDF(short(exc)) from exc
    if encrypted:
        try:
            # a signed PDF may be encrypted with an empty user password; anything else is locked
            result = reader.decrypt((password or "").encode("utf-8"))
            if result.status == AuthStatus.FAILED:
                raise EncryptedPDF("encrypted")
        except PARSE_ERRORS as exc:
            raise EncryptedPDF("encrypted") from exc
    try:
        reader.root  # noqa: B018 - touching the catalogue is the cheapest "is there a document" test
    except PdfDecodeLimitError:
        raise
    except PARSE_ERRORS as exc:
        raise UnreadablePDF(short(exc)) from exc
    return reader


async def _analyse(*, reader, data: bytes, trust_roots: list[x509.Certificate], lang: str, revocations: dict) -> dict:
    document: list[tuple[str, str]] = []
    if reader.xrefs.hybrid_xrefs_present:
        document.append(("hybrid_references", ""))
    document += revisions.structure_problems(reader=reader)
    if any(code == "duplicate_keys" for code, _ in document):
        # what this file shows depends on the reader: nothing in it can be judged
        return rules.assemble(signatures=[], doc_timestamps=[], document=document, lang=lang, judged=False)

    revinfo = _embedded_revinfo(reader=reader)
    signature_fields = {name for name, _, _ in enumerate_sig_fields(reader)}
    entries = []
    for fq_name, sig_obj, sig_field in enumerate_sig_fields(reader, filled_status=True):
        entries.append(_load_embedded(reader=reader, fq_name=fq_name, sig_obj=sig_obj, field=sig_field))
    entries.sort(key=lambda entry: entry["revision"])

    attachment_problems, archive_revision = revisions.attachments_check(reader=reader, entries=entries)
    document += attachment_problems
    final_attachments = revisions.attachment_names(reader.root)
    for entry in entries:
        if entry["revision"] >= 0:
            try:
                signed_root = reader.get_historical_resolver(entry["revision"]).root
            except PARSE_ERRORS:
                continue  # the signature's own check reports the broken revision
            entry["attachments_added"] = sorted(final_attachments - revisions.attachment_names(signed_root))

    policy = LinearDiffPolicy(_diff_policy())
    ctx = rules.Context(
        trust_roots=trust_roots,
        revinfo=revinfo,
        policy=policy,
        tail_junk=not revisions.file_end_is_clean(data=data, reader=reader),
        signature_fields=signature_fields,
        revocations=revocations,
    )
    if ctx.tail_junk:
        document.append(("trailing_data", ""))
    document += revisions.padding_problems(entries=entries)
    document += revisions.signatures_after_timestamp(entries=entries)
    signatures: list[dict] = []
    doc_timestamps: list[dict] = []
    for entry in entries:
        if entry["kind"] == "/DocTimeStamp":
            doc_timestamps.append(await rules.check_doc_timestamp(entry=entry, ctx=ctx))
        else:
            signatures.append(await rules.check_signature(entry=entry, ctx=ctx))
    document += revisions.after_last_signature(
        reader=reader, entries=entries, policy=policy, archive_revision=archive_revision
    )
    rules.apply_own_revocations(signatures=signatures, doc_timestamps=doc_timestamps, revocations=revocations)
    for signature in signatures:
        signature["level"] = rules.level_of(signature=signature, doc_timestamps=doc_timestamps, revinfo=revinfo)
    return rules.assemble(signatures=signatures, doc_timestamps=doc_timestamps, document=document, lang=lang)


def _diff_policy():
    # pyHanko's standard rules, plus the archive-record update dsign makes (signing.archive)
    from signing.archive import archive_diff_policy

    return archive_diff_policy()


def _load_embedded(*, reader, fq_name: str, sig_obj, field) -> dict:
    entry: dict = {"field": fq_name, "embedded": None, "error": None, "revision": -1}
    try:
        sig_dict = sig_obj.get_object()
        entry["kind"] = str(sig_dict.get("/Type", "/Sig"))
        entry["revision"] = reader.xrefs.get_last_change(sig_obj.reference)
    except PARSE_ERRORS as exc:
        entry["kind"] = "/Sig"
        entry["error"] = short(exc)
        return entry
    try:
        entry["embedded"] = EmbeddedPdfSignature(reader, field, fq_name)
    except PdfDecodeLimitError:
        entry["error"] = "too large to inflate safely"
    except PARSE_ERRORS as exc:
        entry["error"] = short(exc)
    return entry


def _embedded_revinfo(*, reader) -> dict:
    """Certificates, CRLs and OCSP responses from the document security store (if any)."""
    found: dict = {"certs": [], "crls": [], "ocsps": [], "present": False}
    try:
        dss = reader.root["/DSS"]
    except KeyError:
        return found
    except PARSE_ERRORS:
        return found
    found["present"] = True
    loaders = (
        ("/Certs", "certs", x509.Certificate, DecodePurpose.CERTIFICATE),
        ("/CRLs", "crls", crl.CertificateList, DecodePurpose.CRL),
        ("/OCSPs", "ocsps", ocsp.OCSPResponse, DecodePurpose.OCSP_RESPONSE),
    )
    for key, target, asn1_type, purpose in loaders:
        try:
            refs = get_and_apply(dss, key, list, default=[])
        except PARSE_ERRORS:
            continue  # a malformed DSS array: no validation data from it
        for ref in refs:
            try:
                value = asn1_type.load(ref.get_object().read_data(purpose))
                value.native  # noqa: B018 - force a full parse now, not deep inside validation
                found[target].append(value)
            except PARSE_ERRORS:
                continue  # an undecodable entry simply does not count as validation data
    return found


# ---------------------------------------------------------------------------------------------
# The level a signature just made reaches (signing checks its own result, in process)
# ---------------------------------------------------------------------------------------------


def signature_level(*, pdf: bytes, field_name: str) -> str:
    """The PAdES level the signature in `field_name` reaches by what `pdf` holds (its timestamp token, the
    revocation data of its chain, a later document timestamp). No trust or integrity check: this asks
    whether a signature just made carries what its level needs."""
    levels = _levels_held(pdf=pdf)
    if field_name not in levels:
        raise ValueError(f"The document has no signature in field {field_name!r}")
    return levels[field_name]


def document_timestamp_level(*, pdf: bytes) -> str:
    """The lowest level reached by the signatures of `pdf` (B-LTA when every one is archived)."""
    levels = _levels_held(pdf=pdf).values()
    return min(levels, key=("B-B", "B-T", "B-LT", "B-LTA").index, default="B-B")


def _levels_held(*, pdf: bytes) -> dict[str, str]:
    from pyhanko.sign.validation.generic_cms import extract_tst_data_iter

    reader = PdfFileReader(BytesIO(pdf), strict=False)
    revinfo = _embedded_revinfo(reader=reader)
    doc_timestamps = [
        {"_revision": embedded.signed_revision, "intact": True} for embedded in reader.embedded_timestamp_signatures
    ]
    levels = {}
    for embedded in reader.embedded_regular_signatures:
        token = next(extract_tst_data_iter(embedded.signer_info, signed=False), None)
        signature = {
            "timestamp": token,
            "_revision": embedded.signed_revision,
            "_chain": [embedded.signer_cert, *embedded.other_embedded_certs],
        }
        levels[embedded.field_name] = rules.level_of(
            signature=signature, doc_timestamps=doc_timestamps, revinfo=revinfo
        )
    return levels
