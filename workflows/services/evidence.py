"""Evidence of how a document was approved and signed: the facts (who, which seat and tier, when, with
which factor at which assurance level, which certificate, each version's SHA-256, the verifier's
verdict), the completion certificate PDF made from them for people without dsign, and the record the
PDF/A-3 archive copy carries.

The factor and assurance level of each approval come from its audit event (``document.approved``, the
step-up that activated the signature); the certificate from the signing job that used it. Times are
ISO 8601 in Thailand's time in the record, Buddhist-era Thai on the certificate.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

import audit
from audit.selectors import events_filter
from core.errors import DomainError
from core.thai import THAILAND_TZ, format_thai_datetime

from ..models import Assignment, AssignmentStatus, Document, DocumentStatus
from ..selectors import latest_version

FACTOR_LABELS = {
    "totp": "แอปยืนยันตัวตน (TOTP)",
    "webauthn": "พาสคีย์ (passkey)",
    "email": "รหัสผ่านครั้งเดียวทางอีเมล",
    "sms": "รหัสผ่านครั้งเดียวทาง SMS",
    "backup": "รหัสสำรอง",
}
DECISION_LABELS = {
    AssignmentStatus.SIGNED: "อนุมัติและลงนาม",
    "approved": "อนุมัติ",
    "rejected": "ไม่อนุมัติ",
    "returned": "ส่งกลับแก้ไข",
}

VERSION_LABELS = {
    "original": "ต้นฉบับ",
    "revision": "ฉบับแก้ไข",
    "signed": "ลงนามแล้ว",
    "timestamped": "ประทับเวลาเอกสาร",
    "archive": "สำเนาเพื่อการเก็บรักษา (PDF/A-3)",
}

__all__ = ["document_facts", "evidence_pdf_make", "iso"]


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with the offset, in Thailand's time (what the archive record and the API write)."""
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, THAILAND_TZ)
    return moment.astimezone(THAILAND_TZ).isoformat(timespec="seconds")


def _approvals(document: Document) -> dict[int, dict]:
    """The approval event of each seat (the step-up's factor and levels), by assignment id."""
    found: dict[int, dict] = {}
    events = events_filter(
        action_prefix="document.approved", target_type="workflows.document", target_id=str(document.pk)
    )
    for details in events.order_by("id").values_list("details", flat=True):
        if isinstance(details, dict) and details.get("assignment"):
            found[int(details["assignment"])] = details
    return found


def _certificates(job_ids: list[int]) -> dict[int, dict]:
    from certificates.models import Certificate
    from signing.models import SigningJob

    jobs = dict(SigningJob.objects.filter(pk__in=job_ids).values_list("pk", "certificate_id"))
    certs = {c.pk: c for c in Certificate.objects.filter(pk__in=[c for c in jobs.values() if c])}
    found = {}
    for job_id, cert_id in jobs.items():
        cert = certs.get(cert_id)
        if cert is not None:
            found[job_id] = {
                "serial": cert.serial_number,
                "subject": cert.subject_cn,
                "issuer": cert.issuer_cn,
                "source": cert.source,
                "not_before": iso(cert.not_before),
                "not_after": iso(cert.not_after),
                "identity_proofing_level": cert.identity_proofing_level,
            }
    return found


def document_facts(*, document: Document) -> dict:
    """Everything the evidence and the archive record say about the document, in plain JSON types."""
    seats = list(
        Assignment.objects.filter(document=document)
        .select_related("tier", "signer", "decided_by")
        .order_by("tier__round", "tier__order", "id")
    )
    approvals = _approvals(document)
    certificates = _certificates([s.signing_job_id for s in seats if s.signing_job_id])
    decisions = []
    for seat in seats:
        approval = approvals.get(seat.pk, {})
        person = seat.decided_by or seat.signer
        decisions.append(
            {
                "round": seat.tier.round,
                "tier": seat.tier.order,
                "tier_name": seat.tier.name,
                "field": seat.field_name,
                "seat": seat.field_name,
                "seat_holder": seat.signer.username,
                "signer": person.username if seat.decided_by_id else None,
                "signer_name": person.full_name_th if seat.decided_by_id else None,
                "position": person.position if seat.decided_by_id else None,
                "on_behalf_of": seat.signer.username if seat.decided_by_id not in (None, seat.signer_id) else None,
                "status": seat.status,
                "decided_at": iso(seat.decided_at),
                "signed_at": iso(seat.signed_at),
                "comment": seat.comment,
                "factor": approval.get("factor") or None,
                "aal": approval.get("aal"),
                "ial": approval.get("ial"),
                "approved_version": approval.get("version"),
                "approved_sha256": seat.approved_sha256 or None,
                "certificate": certificates.get(seat.signing_job_id),
            }
        )
    signed = [d for d in decisions if d["status"] == AssignmentStatus.SIGNED]
    return {
        "summary": f"{document.title} — {document.get_status_display()}, {len(signed)} signature(s)",
        "document": {
            "id": document.pk,
            "title": document.title,
            "template": document.template.code,
            "requester": document.requester.username,
            "status": document.status,
            "round": document.round,
            "created_at": iso(document.created_at),
            "completed_at": iso(document.completed_at),
            "pades_level": document.pades_level,
        },
        "signers": [
            {
                key: d[key]
                for key in (
                    "signer",
                    "signer_name",
                    "position",
                    "on_behalf_of",
                    "seat",
                    "tier",
                    "tier_name",
                    "round",
                    "signed_at",
                    "factor",
                    "aal",
                    "ial",
                )
            }
            | {"certificate_serial": (d["certificate"] or {}).get("serial")}
            for d in signed
        ],
        "decisions": decisions,
        "certificates": [d["certificate"] for d in signed if d["certificate"]],
        "versions": [
            {"number": v.number, "kind": v.kind, "sha256": v.sha256, "size": v.size, "created_at": iso(v.created_at)}
            for v in document.versions.order_by("number")
        ],
    }


def _thai(moment_text: str | None) -> str:
    return format_thai_datetime(datetime.fromisoformat(moment_text)) if moment_text else "—"


def evidence_pdf_make(*, document: Document, actor) -> bytes:
    """The completion certificate of a completed document (409 ``not_completed`` otherwise). Audited."""
    from weasyprint import HTML

    from branding.selectors import EMAIL_LOGO_TYPES, branding_get
    from core.fonts import thai_font_path
    from core.pdftext import write_pdf

    from .verification_link import stored_verdict, verification_url

    if document.status != DocumentStatus.COMPLETED:
        raise DomainError("The evidence is made once the document is completed.", code="not_completed", status=409)
    facts = document_facts(document=document)
    final = latest_version(document)
    verdict = stored_verdict(final)
    by_field = {s["field"]: s for s in verdict["signatures"]}
    brand = branding_get()
    logo = brand.logo_path if brand.logo_path and brand.logo_path.suffix.lower() in EMAIL_LOGO_TYPES else None
    font, bold = thai_font_path(weight="Regular"), thai_font_path(weight="Bold")
    signers = [
        {
            **s,
            "signed_at_th": _thai(s["signed_at"]),
            "factor_th": FACTOR_LABELS.get(s["factor"] or "", s["factor"] or "ไม่ได้บันทึก"),
            "valid": bool(by_field.get(s["seat"], {}).get("valid")),
            "level": by_field.get(s["seat"], {}).get("level") or "",
        }
        for s in facts["signers"]
    ]
    html = render_to_string(
        "evidence/certificate.html",
        {
            "facts": facts,
            "signers": signers,
            "versions": [
                {**v, "created_at_th": _thai(v["created_at"]), "kind_th": VERSION_LABELS.get(v["kind"], v["kind"])}
                for v in facts["versions"]
            ],
            "verdict": verdict,
            "final": final,
            "completed_at_th": _thai(facts["document"]["completed_at"]),
            "issued_at_th": format_thai_datetime(timezone.now()),
            "organisation_name": brand.name,
            "logo_url": logo.resolve().as_uri() if logo else "",
            "font_url": font.as_uri(),
            "bold_font_url": bold.as_uri(),
            "verification_url": verification_url(document),
            "base_url": settings.BASE_URL,
        },
    )
    files = [logo] if logo else []
    document_pdf = write_pdf(HTML(string=html, base_url=None, url_fetcher=_fetcher([font, bold, *files])).render())
    audit.record(
        actor=actor,
        action="document.evidence_downloaded",
        target=document,
        details={"version": final.number, "sha256": final.sha256, "valid": verdict["valid"]},
    )
    return document_pdf


def _fetcher(files):
    """Only the fonts and the logo: titles and names are user text, the renderer reaches nothing else."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    allowed = {f.resolve() for f in files}

    class _Only(URLFetcher):
        def __init__(self):
            super().__init__(allowed_protocols=("file",), allow_redirects=False)

        def fetch(self, url, headers=None):
            from pathlib import Path
            from urllib.parse import unquote, urlsplit

            parts = urlsplit(url)
            path = Path(unquote(parts.path)).resolve() if parts.scheme == "file" else None
            if path is None or path not in allowed or not path.is_file():
                raise ValueError(f"the evidence reads no other resource: {url[:100]}")
            return URLFetcherResponse(url, body=path.read_bytes())

    return _Only()
