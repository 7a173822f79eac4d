"""The verdict rules of the verifier, applied to pyHanko's per-signature statuses (runs inside the child).

The rules are ours, not pyHanko's `bottom_line`: a signature is valid only when it is intact,
cryptographically valid, trusted, not revoked, covers its whole revision, uses strong algorithms, is a
PAdES baseline CMS, and is followed by nothing but form filling or validation-data/timestamp updates
(what may follow the LAST signature is stricter: `signing.verification_revisions`). Revocation is judged
from data embedded in the file and, for certificates dsign's own CA issued, from dsign's own records
(`revocations`, passed in by the caller): such a signature is valid only with proof (a trusted timestamp)
that it existed before the revocation.
"""

from datetime import datetime

from asn1crypto import core, x509
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext

from signing.messages import problem_text
from signing.verification_common import PARSE_ERRORS, add, codes, short

__all__ = ["assemble", "check_doc_timestamp", "check_signature", "level_of"]

COVERAGE_NAMES = {3: "entire_file", 2: "entire_revision"}
ACCEPTED_MODIFICATIONS = ("none", "form_filling")
# Told to the reader, but not a reason to call a signature invalid (an attachment other than dsign's own
# record makes the DOCUMENT not valid: signing.verification_revisions.attachments_check).
HARMLESS_NOTES = {"form_fields_changed", "attachments_added"}
# Problems that mean "we could not judge" rather than "we judged and it failed".
INDETERMINATE_CODES = {"damaged_document", "format_failure", "modifications_unknown", "too_complex", "internal_error"}


def _contexts(*, trust_roots: list[x509.Certificate], revinfo: dict, moment: datetime | None):
    def make():
        kwargs = {
            "trust_roots": list(trust_roots),
            "other_certs": list(revinfo["certs"]),
            "crls": list(revinfo["crls"]),
            "ocsps": list(revinfo["ocsps"]),
            "allow_fetching": False,
            # missing revocation data is tolerated (B-B/B-T); a revocation that is present counts
            "revocation_mode": "soft-fail",
        }
        if moment is not None:
            kwargs["moment"] = moment
        return ValidationContext(**kwargs)

    # separate contexts: the TSA chains on its own path, possibly to another root
    return make(), make()


def _key_usage():
    return KeyUsageConstraints(key_usage={"non_repudiation", "digital_signature"}, match_all_key_usages=False)


def _blank_signature(*, field: str) -> dict:
    return {
        "field": field,
        "signer": None,
        "signed_at": None,
        "intact": False,
        "trusted": False,
        "revoked": False,
        "timestamp": None,
        "level": "B-B",
        "coverage": "partial",
        "modifications": "other",
        "attachments_added": [],
        "valid": False,
        "status": "indeterminate",
        "problem_codes": [],
        "_problems": [],
        "_revision": -1,
    }


class Context:
    """What every check of one document shares."""

    __slots__ = ("policy", "revinfo", "revocations", "signature_fields", "tail_junk", "trust_roots")

    def __init__(self, *, trust_roots, revinfo, policy, tail_junk, signature_fields, revocations):
        self.trust_roots = trust_roots
        self.revinfo = revinfo
        self.policy = policy
        self.tail_junk = tail_junk
        self.signature_fields = signature_fields
        # {(issuer name DER, serial): revoked_at} for certificates dsign's CA issued
        self.revocations = revocations


async def check_signature(*, entry: dict, ctx: Context) -> dict:
    result = _blank_signature(field=entry["field"])
    result["_revision"] = entry["revision"]
    embedded = entry["embedded"]
    if embedded is None:
        add(result, "format_failure", entry["error"] or "unreadable signature")
        return result
    result["signer"] = _signer_name(embedded=embedded)
    _check_baseline(embedded=embedded, result=result)
    result["attachments_added"] = entry.get("attachments_added", [])

    diff_failed = False
    try:
        status = await _validate(embedded=embedded, ctx=ctx)
    except (*PARSE_ERRORS, RecursionError) as exc:
        if isinstance(exc, SignatureValidationError) or not _in_diff_analysis(embedded=embedded):
            add(result, "format_failure", short(exc))
            return result
        # the difference analysis choked (loops, broken objects): judge the rest, flag the changes
        diff_failed = True
        try:
            status = await _validate(embedded=embedded, ctx=ctx, skip_diff=True)
        except (*PARSE_ERRORS, RecursionError) as retry_exc:
            add(result, "format_failure", short(retry_exc))
            return result

    status = await _revalidate_at_timestamp_if_expired(status=status, embedded=embedded, ctx=ctx)
    result["_signer_key"] = _signer_key(embedded=embedded)
    _fill_from_status(
        result=result,
        status=status,
        tail_junk=ctx.tail_junk,
        diff_failed=diff_failed,
        signature_fields=ctx.signature_fields,
    )
    result["_chain"] = _chain_of(status=status, embedded=embedded)
    return result


def _chain_of(*, status, embedded) -> list[x509.Certificate]:
    if status.validation_path is not None:
        return list(status.validation_path.iter_certs(include_root=False))
    return [embedded.signer_cert]


async def _validate(*, embedded, ctx: Context, skip_diff: bool = False, moment=None):
    signer_ctx, ts_ctx = _contexts(trust_roots=ctx.trust_roots, revinfo=ctx.revinfo, moment=moment)
    return await async_validate_pdf_signature(
        embedded,
        signer_validation_context=signer_ctx,
        ts_validation_context=ts_ctx,
        key_usage_settings=_key_usage(),
        skip_diff=skip_diff,
        diff_policy=ctx.policy,
    )


def _signer_key(*, embedded) -> tuple[str, int] | None:
    try:
        cert = embedded.signer_cert
        return cert.issuer.hashable, cert.serial_number
    except PARSE_ERRORS:
        return None


def _in_diff_analysis(*, embedded) -> bool:
    # integrity data is computed before the diff: if coverage is known, the failure was in the diff
    return embedded.coverage is not None


async def _revalidate_at_timestamp_if_expired(*, status, embedded, ctx: Context):
    """A B-T+ signature is judged at the time its trusted timestamp proves it existed."""
    ts = status.timestamp_validity
    expired = status.trust_problem_indic in (
        AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
        AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
        AdESIndeterminate.EXPIRED,
    )
    if not (expired and ts is not None and ts.intact and ts.valid and ts.trusted):
        return status
    try:
        return await _validate(embedded=embedded, ctx=ctx, moment=ts.timestamp)
    except PARSE_ERRORS:
        return status


def _fill_from_status(*, result: dict, status, tail_junk: bool, diff_failed: bool, signature_fields: set[str]) -> None:
    result["intact"] = bool(status.intact)
    result["revoked"] = bool(status.revoked)
    result["trusted"] = bool(status.trusted) and not result["revoked"]
    ts = status.timestamp_validity
    if ts is not None:
        result["timestamp"] = ts.timestamp.isoformat()
        result["timestamp_trusted"] = bool(ts.intact and ts.valid and ts.trusted)
        if not (ts.intact and ts.valid):
            add(result, "timestamp_invalid")
        elif not ts.trusted:
            add(result, "timestamp_untrusted")
    signed_at = ts.timestamp if ts is not None else status.signer_reported_dt
    result["signed_at"] = signed_at.isoformat() if signed_at is not None else None

    result["coverage"] = COVERAGE_NAMES.get(int(status.coverage.value), "partial")
    if result["coverage"] == "entire_revision" and tail_junk:
        result["coverage"] = "partial"
        add(result, "trailing_data")
    result["modifications"] = _modifications(status=status, coverage=result["coverage"])
    result["_evaluated"] = True
    if diff_failed:
        result["modifications"] = "other"
        add(result, "modifications_unknown")

    if not status.intact:
        add(result, "not_intact")
    elif not status.valid:
        add(result, "crypto_invalid")
    weak = _weak_algorithm(status=status)
    if weak:
        add(result, "weak_algorithm", weak)
    if result["revoked"]:
        add(result, "revoked")
    elif status.intact and status.valid and not result["trusted"]:
        indic = status.trust_problem_indic
        if indic in (
            AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
            AdESIndeterminate.EXPIRED,
            AdESIndeterminate.NOT_YET_VALID,
            AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
        ):
            add(result, "expired")
        elif status.validation_path is not None and _bad_key_usage(status):
            add(result, "key_usage")
        elif indic == AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE and not weak:
            add(result, "weak_algorithm", status.md_algorithm)
        if status.validation_path is None:
            # whatever else failed, no chain reached one of our roots
            add(result, "untrusted")
    if result["coverage"] == "partial":
        add(result, "coverage_partial")
    if result["modifications"] == "other":
        add(result, "modified_other")
    elif result["modifications"] == "annotations":
        add(result, "modified_annotations")
    if result.get("attachments_added"):
        add(result, "attachments_added", ", ".join(result["attachments_added"]))
    changed = _changed_value_fields(status=status, signature_fields=signature_fields)
    if changed:
        result["changed_form_fields"] = changed
        add(result, "form_fields_changed", ", ".join(changed))
    if status.docmdp_ok is False and result["modifications"] != "other":
        add(result, "docmdp_violation")
    if not status.seed_value_ok:
        add(result, "seed_value")
    if status.docmdp_ok is False and "docmdp_violation" not in codes(result):
        result["modifications"] = "other"

    result["valid"] = (
        result["intact"]
        and bool(status.valid)
        and result["trusted"]
        and not result["revoked"]
        and result["coverage"] in ("entire_file", "entire_revision")
        and result["modifications"] in ACCEPTED_MODIFICATIONS
        and status.docmdp_ok is not False
        and status.seed_value_ok
        and not weak
        and not _problems_other_than(result, HARMLESS_NOTES)
    )
    result["status"] = _status_of(result)


def _problems_other_than(result: dict, harmless: set[str]) -> bool:
    return any(code not in harmless for code in codes(result))


def _status_of(result: dict) -> str:
    if result["valid"]:
        return "valid"
    definite = set(codes(result)) - INDETERMINATE_CODES - HARMLESS_NOTES
    return "invalid" if definite else "indeterminate"


def _modifications(*, status, coverage: str) -> str:
    if coverage == "partial":
        return "other"
    level = status.modification_level
    if level is None:
        return "other"
    return {
        ModificationLevel.NONE: "none",
        ModificationLevel.LTA_UPDATES: "none",
        ModificationLevel.FORM_FILLING: "form_filling",
        ModificationLevel.ANNOTATIONS: "annotations",
    }.get(level, "other")


def _changed_value_fields(*, status, signature_fields: set[str]) -> list[str]:
    """Non-signature form fields whose value changed after the signature (shadow attacks)."""
    diff = status.diff_result
    if not isinstance(diff, DiffResult):
        return []
    # later signatures fill signature fields: that is the normal workflow, not a changed value
    return sorted(name for name in diff.changed_form_fields if name not in signature_fields)


def _bad_key_usage(status) -> bool:
    cert = status.signing_cert
    if cert.key_usage_value is None:
        return False
    return not ({"non_repudiation", "digital_signature"} & set(cert.key_usage_value.native))


def _weak_algorithm(*, status) -> str:
    if status.md_algorithm in ("md2", "md5", "sha1"):
        return status.md_algorithm.upper().replace("SHA", "SHA-")
    public_key = status.signing_cert.public_key
    if public_key.algorithm == "rsa" and public_key.bit_size < 2048:
        return f"RSA {public_key.bit_size}-bit key"
    return ""


def _signer_name(*, embedded) -> str | None:
    try:
        subject = embedded.signer_cert.subject
    except PARSE_ERRORS:
        return None
    names = subject.native
    return names.get("common_name") or subject.human_friendly


def _check_baseline(*, embedded, result: dict) -> None:
    """PAdES baseline (ETSI EN 319 142-1) shape of the CMS: our format policy."""
    signed_data = embedded.signed_data
    if str(embedded.sig_object.get("/SubFilter", "")) == "/adbe.pkcs7.sha1":
        add(result, "weak_algorithm", "SHA-1 (adbe.pkcs7.sha1)")
        return
    encap = signed_data["encap_content_info"]
    if encap["content_type"].native == "data" and encap["content"].native is not None:
        add(result, "format_failure", "the signature carries its own copy of the content")
        return
    signed_attrs = embedded.signer_info["signed_attrs"]
    # not `.native`: converting every attribute (certificates, revocation data) costs more than the rest of the check
    if isinstance(signed_attrs, core.Void) or len(signed_attrs) == 0:
        add(result, "not_baseline", "no signed attributes")
        add(result, "format_failure", "no message digest attribute")
        return
    types = {attr["type"].native for attr in signed_attrs}
    if "signing_certificate_v2" not in types:
        if "signing_certificate" in types:
            add(result, "not_baseline", "old-style signing-certificate attribute")
        else:
            add(result, "not_baseline", "no signing-certificate attribute")
    if "message_digest" not in types:
        add(result, "format_failure", "no message digest")


async def check_doc_timestamp(*, entry: dict, ctx: Context) -> dict:
    result = {
        "field": entry["field"],
        "timestamp": None,
        "intact": False,
        "trusted": False,
        "coverage": "partial",
        "modifications": "other",
        "valid": False,
        "problem_codes": [],
        "_problems": [],
        "_revision": entry["revision"],
    }
    embedded = entry["embedded"]
    if embedded is None:
        add(result, "format_failure", entry["error"] or "unreadable timestamp")
        return result
    _, ts_ctx = _contexts(trust_roots=ctx.trust_roots, revinfo=ctx.revinfo, moment=None)
    try:
        status = await async_validate_pdf_timestamp(embedded, validation_context=ts_ctx, diff_policy=ctx.policy)
    except PARSE_ERRORS as exc:
        add(result, "format_failure", short(exc))
        return result
    result["timestamp"] = status.timestamp.isoformat()
    result["intact"] = bool(status.intact and status.valid)
    result["trusted"] = bool(status.trusted)
    result["coverage"] = COVERAGE_NAMES.get(int(status.coverage.value), "partial")
    if result["coverage"] == "entire_revision" and ctx.tail_junk:
        result["coverage"] = "partial"
        add(result, "trailing_data")
    result["modifications"] = _modifications(status=status, coverage=result["coverage"])
    result["_evaluated"] = True
    if not result["intact"]:
        add(result, "doc_timestamp_invalid", result["field"])
    elif not result["trusted"]:
        add(result, "doc_timestamp_untrusted", result["field"])
    if result["modifications"] not in ACCEPTED_MODIFICATIONS:
        add(result, "changed_after_last")
    result["valid"] = (
        result["intact"]
        and result["trusted"]
        and result["coverage"] != "partial"
        and result["modifications"] in ACCEPTED_MODIFICATIONS
    )
    return result


def level_of(*, signature: dict, doc_timestamps: list[dict], revinfo: dict) -> str:
    if signature["timestamp"] is None:
        return "B-B"
    if not (revinfo["present"] and _revinfo_covers(signature=signature, revinfo=revinfo)):
        return "B-T"
    later_dts = [ts for ts in doc_timestamps if ts["_revision"] > signature["_revision"] and ts["intact"]]
    return "B-LTA" if later_dts else "B-LT"


def _revinfo_covers(*, signature: dict, revinfo: dict) -> bool:
    """Every certificate of the signer's chain (except the anchor) has a CRL or OCSP answer."""
    chain = signature.get("_chain") or []
    if not chain:
        return bool(revinfo["crls"] or revinfo["ocsps"])
    crl_issuers = {crl["tbs_cert_list"]["issuer"].dump() for crl in revinfo["crls"]}
    ocsp_serials = set()
    for response in revinfo["ocsps"]:
        try:
            basic = response["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                ocsp_serials.add(single["cert_id"]["serial_number"].native)
        except PARSE_ERRORS:
            continue  # an unusable OCSP response covers nothing
    for cert in chain:
        if cert.self_signed != "no":
            continue
        if cert.issuer.dump() not in crl_issuers and cert.serial_number not in ocsp_serials:
            return False
    return True


def apply_own_revocations(*, signatures: list[dict], doc_timestamps: list[dict], revocations: dict) -> None:
    """A signature by a certificate dsign's CA revoked stands only with a trusted timestamp from before then.

    The proof is the signature's own trusted timestamp or a later, intact and trusted document timestamp.
    """
    for signature in signatures:
        revoked_at = revocations.get(signature.get("_signer_key"))
        if revoked_at is None:
            continue
        proofs = []
        if signature.get("timestamp_trusted") and signature["timestamp"]:
            proofs.append(signature["timestamp"])
        proofs += [
            ts["timestamp"]
            for ts in doc_timestamps
            if ts["_revision"] > signature["_revision"] and ts["intact"] and ts["trusted"] and ts["timestamp"]
        ]
        if any(datetime.fromisoformat(proof) < revoked_at for proof in proofs):
            continue
        signature["revoked"] = True
        signature["trusted"] = False
        signature["valid"] = False
        signature["status"] = "invalid"
        add(signature, "revoked")


# Document-level problems that mean "we could not judge"; every other one is a definite failure.
UNJUDGED_DOCUMENT_CODES = INDETERMINATE_CODES | {"hybrid_references", "duplicate_keys", "no_signatures"}


def assemble(
    *,
    signatures: list[dict],
    doc_timestamps: list[dict],
    document: list[tuple[str, str]],
    lang: str,
    judged: bool = True,
) -> dict:
    """The report: every signature and timestamp, and the document-level problems (`document`) first."""
    top: list[tuple[str, str]] = list(document)
    if not signatures and judged:
        top.append(("no_signatures", ""))
    for signature in signatures:
        if not signature["valid"]:
            top.append(("signature_problem", signature["field"]))
    for ts in doc_timestamps:
        for problem in ts["_problems"]:
            if problem not in top:
                top.append(problem)
    evaluated = [item for item in signatures + doc_timestamps if item.get("_evaluated")]
    last = max(evaluated, key=lambda item: item["_revision"], default=None)
    if last is not None and last["modifications"] not in ACCEPTED_MODIFICATIONS:
        top.append(("changed_after_last", ""))

    valid = bool(signatures) and all(s["valid"] for s in signatures)
    valid = valid and all(ts["valid"] for ts in doc_timestamps) and not top
    statuses = {s["status"] for s in signatures}
    if valid:
        status = "valid"
    elif (
        "invalid" in statuses
        or any(not ts["valid"] for ts in doc_timestamps)
        or {code for code, _ in document} - UNJUDGED_DOCUMENT_CODES
    ):
        status = "invalid"
    else:
        status = "indeterminate"

    for item in signatures + doc_timestamps:
        problems = item.pop("_problems")
        item.pop("_revision", None)
        item.pop("_chain", None)
        item.pop("_signer_key", None)
        item.pop("_evaluated", None)
        item["problem_codes"] = [code for code, _ in problems]
        item["problems"] = [problem_text(code=c, lang=lang, detail=d) for c, d in problems]
    return {
        "valid": valid,
        "status": status,
        "signatures": signatures,
        "document_timestamps": doc_timestamps,
        "problems": [problem_text(code=c, lang=lang, detail=d) for c, d in top],
        "problem_codes": [code for code, _ in top],
    }
