"""What signing needs to know about documents: the hooks named by SigningJob.handler.

`signing_input` is called with no transaction open: it checks that the decision behind the job still
stands and gives the version to sign. `store_signed` is called in the transaction that marks the job
done: it locks the document row, checks the decision again and that the version signed is still the
current one, and stores the new version, the seat's "signed" mark and the tier's progress — so a
recall, cancellation, rejection or return either commits before that check (and the signature is
discarded, the job fails and the approval is withdrawn) or waits for the signature to be stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, OuterRef, Q, Subquery
from django.utils import timezone

import audit
from accounts.models import User
from core.storage import StoredFileCorrupted, read_verified
from signing.models import JobKind, PadesLevel, SigningJob
from signing.services import PermanentSigningError, SigningConflict

from . import services, states
from .integrity import signatures_only_since, version_current
from .models import (
    Assignment,
    AssignmentStatus,
    Document,
    DocumentStatus,
    DocumentVersion,
    RouteTier,
    TierStatus,
)
from .signing_errors import failure_text


@dataclass(frozen=True)
class Basis:
    """The version a job signed (the current one when it was read) and, for a signature, its seat's tier."""

    version_id: int
    number: int
    tier_id: int | None = None
    quorum: int = 0
    # The document said what it was waiting for (a retried job): cleared when the signature is stored.
    waiting: bool = False
    # Every seat's field of the running route ((field, page, box) in route order), read with the seat.
    route_fields: tuple = ()
    # As read (no lock): storing this signature would end the route (`may_complete`).
    last: bool = False


def version_read(version: DocumentVersion) -> bytes:
    """The version's bytes, checked against the SHA-256 recorded when it was stored."""
    return read_verified(storage=version.file.storage, name=version.file.name, sha256=version.sha256)


def _latest_version(document_id: int) -> DocumentVersion:
    return version_current(Document(pk=document_id))


def latest_pdf(subject_id: int) -> bytes:
    return version_read(_latest_version(subject_id))


def _refuse(code: str, message: str):
    raise PermanentSigningError(code, message)


def _latest(document_ref) -> dict:
    newest = DocumentVersion.objects.filter(document_id=document_ref).order_by("-number")
    return {
        "latest_id": Subquery(newest.values("pk")[:1]),
        "latest_number": Subquery(newest.values("number")[:1]),
    }


def _timestamp_wanted(job: SigningJob) -> str:
    return DocumentStatus.COMPLETED if job.field_name.startswith("DocTS_renew") else DocumentStatus.IN_PROGRESS


def _seat_refusal(*, seat: Assignment | None, document: Document) -> None:
    if document.status != DocumentStatus.IN_PROGRESS:
        _refuse("route_ended", f"The document is {document.status}; the approval no longer stands.")
    if seat is None or seat.status != AssignmentStatus.APPROVED:
        _refuse("decision_withdrawn", "The approval this signature was for no longer stands.")
    if seat.tier.round != document.round or seat.tier.status != TierStatus.ACTIVE:
        _refuse("route_changed", "The route restarted after this approval; the tier must approve again.")


def signing_input(*, job: SigningJob) -> tuple[Basis, bytes]:
    """The version `job` may sign and its bytes; PermanentSigningError when none. No lock is taken.

    A signature is made only while the route runs, for a seat still approved in the running round, over
    the version its signer approved — or that version followed only by signatures dsign made since
    (each a version stored by a finished signing job of this document, appended as incremental updates).
    """
    if job.kind == JobKind.DOCUMENT_TIMESTAMP:
        document = Document.objects.annotate(**_latest(OuterRef("pk"))).get(pk=job.subject_id)
        if document.status != _timestamp_wanted(job):
            _refuse("route_ended", f"The document is {document.status}; no document timestamp is added.")
        latest = DocumentVersion.objects.get(pk=document.latest_id)
        return Basis(version_id=latest.pk, number=latest.number), version_read(latest)
    # One statement: the job's seat and every seat of the running route (for the fields a file's first
    # signature creates), in route order.
    in_route = _in_running_route()
    rows = list(
        Assignment.objects.select_related("tier", "document", "approved_version")
        .annotate(**_latest(OuterRef("document_id")), in_route=ExpressionWrapper(in_route, BooleanField()))
        .filter(Q(signing_job_id=job.pk) | Q(in_route, document_id=job.subject_id))
        .order_by("tier__order", "pk")
    )
    seat = next((row for row in rows if row.signing_job_id == job.pk), None)
    document = seat.document if seat is not None else Document.objects.get(pk=job.subject_id)
    _seat_refusal(seat=seat, document=document)
    approved = seat.approved_version
    if approved is None or approved.sha256 != seat.approved_sha256:
        _refuse("version_unknown", "The approval does not record which version the signer saw.")
    basis = Basis(
        version_id=seat.latest_id,
        number=seat.latest_number,
        tier_id=seat.tier_id,
        quorum=seat.tier.quorum,
        waiting=bool(document.waiting_reason),
        route_fields=tuple((row.field_name, row.page, row.box) for row in rows if row.in_route),
        last=_last_signature(seat=seat, rows=[row for row in rows if row.in_route], document=document),
    )
    if seat.latest_id == approved.pk:
        return basis, version_read(approved)
    if not signatures_only_since(document=document, version=approved):
        _refuse("version_changed", "The document changed after the signer approved it; they must approve again.")
    data = version_read(DocumentVersion.objects.get(pk=seat.latest_id))
    if not data.startswith(version_read(approved)):
        _refuse("version_changed", "The document changed after the signer approved it; they must approve again.")
    return basis, data


def _last_signature(*, seat: Assignment, rows: list[Assignment], document: Document) -> bool:
    """Whether storing `seat`'s signature would complete the document, as `routes.route_maybe_complete`
    decides it, on the seats read without a lock: every other tier of the route complete, no other
    approval waiting for its signature, this one the tier's last needed, and no document timestamp to add."""
    if document.pades_level == PadesLevel.B_LTA:
        return False
    others = [row for row in rows if row.pk != seat.pk]
    if any(row.tier_id != seat.tier_id and row.tier.status != TierStatus.COMPLETED for row in others):
        return False
    if any(row.status == AssignmentStatus.APPROVED for row in others):
        return False
    signed = sum(1 for row in others if row.tier_id == seat.tier_id and row.status == AssignmentStatus.SIGNED)
    return signed + 1 >= seat.tier.quorum


def may_complete(*, job: SigningJob, basis: Basis) -> bool:
    """Storing `job`'s result may complete the document (then its final file is verified first)."""
    return job.kind == JobKind.DOCUMENT_TIMESTAMP or basis.last


def _in_running_route() -> Q:
    """An assignment in its document's running route: per order, the newest tier up to the document's
    round (as selectors.current_tier_ids chooses them), as a condition on the assignment itself."""
    newer = RouteTier.objects.filter(
        document_id=OuterRef("tier__document_id"),
        order=OuterRef("tier__order"),
        round__gt=OuterRef("tier__round"),
        round__lte=OuterRef("tier__document__round"),
    )
    return Q(tier__round__lte=F("tier__document__round")) & ~Q(Exists(newer))


def signature_fields(*, job: SigningJob, basis: Basis | None = None) -> list[dict]:
    """Every seat's field of the running route: the first signature of a file creates them all (and
    certifies it), so no field is ever added after it (signing.pades, route_fields). A new round on the
    same file reuses these fields (services.round_start). `basis` (signing_input's) already holds them."""
    if basis is not None and basis.route_fields:
        fields = basis.route_fields
    else:
        seats = Assignment.objects.filter(_in_running_route(), document_id=job.subject_id).order_by("tier__order", "pk")
        fields = tuple(seats.values_list("field_name", "page", "box"))
    return [{"field": field, "page": page, "box": box} for field, page, box in fields]


def store_signed(*, job: SigningJob, pdf: bytes, sha256: str, basis: Basis) -> None:
    """Under the document lock: the decision still stands and `basis` is still the current version
    (SigningConflict otherwise: the job signs the new one), then the signed version is stored."""
    document = Document(pk=job.subject_id)
    if job.kind == JobKind.SIGNATURE:
        # One statement locks the running document's row (FOR UPDATE, first: every change of a route
        # locks it) and marks the seat signed only if it is still approved in an active tier of the
        # document's round; a recall, cancellation or restart that committed first cancelled the seat.
        running = Document.objects.select_for_update().filter(pk=job.subject_id, status=DocumentStatus.IN_PROGRESS)
        seat_now = Assignment.objects.filter(
            signing_job_id=job.pk,
            document_id__in=running.values("pk"),
            tier__status=TierStatus.ACTIVE,
            tier__round=F("document__round"),
        )
        if not states.apply_bulk(
            states.ASSIGNMENT, seat_now, "sign", signed_at=timezone.now(), signing_error="", signing_error_code=""
        ):
            seat = Assignment.objects.select_related("tier", "document").filter(signing_job_id=job.pk).first()
            _seat_refusal(seat=seat, document=seat.document if seat else Document.objects.get(pk=job.subject_id))
            _refuse("decision_withdrawn", "The approval this signature was for no longer stands.")
        if basis.waiting:
            Document.objects.filter(pk=document.pk).update(waiting_reason="")
    else:
        document = Document.objects.select_for_update().select_related("template").get(pk=job.subject_id)
        if document.status != _timestamp_wanted(job):
            _refuse("route_ended", f"The document is {document.status}; no document timestamp is added.")
        if document.waiting_reason:
            Document.objects.filter(pk=document.pk).update(waiting_reason="")
    versions = DocumentVersion.objects.filter(document_id=document.pk).order_by("-number")
    if job.kind == JobKind.SIGNATURE:
        # The tier's signatures, this one included, read with the current version in one statement.
        signed = Assignment.objects.filter(tier_id=basis.tier_id, status=AssignmentStatus.SIGNED).order_by()
        versions = versions.annotate(signed=Subquery(signed.values("tier_id").annotate(n=Count("pk")).values("n")[:1]))
    latest = versions.values("pk", "number", *(["signed"] if job.kind == JobKind.SIGNATURE else [])).first()
    if latest is None or latest["pk"] != basis.version_id:
        raise SigningConflict
    kind = DocumentVersion.Kind.SIGNED if job.kind == JobKind.SIGNATURE else DocumentVersion.Kind.TIMESTAMPED
    services.version_store(document=document, data=pdf, kind=kind, signing_job_id=job.pk, number=latest["number"] + 1)
    if job.kind == JobKind.SIGNATURE:
        # Quorum counts signatures in the file: the tier may complete (and the next open) only now.
        if (latest["signed"] or 0) >= basis.quorum:
            document = Document.objects.select_related("template").get(pk=job.subject_id)
            services.tier_maybe_advance(document=document, tier=RouteTier(pk=basis.tier_id))
    else:
        services.route_maybe_complete(document=document, finishing_job_id=job.pk)


def job_waiting(*, job: SigningJob) -> None:
    Document.objects.filter(pk=job.subject_id).update(waiting_reason=job.error_message[:300])


def job_failed(*, job: SigningJob) -> None:
    """A signature failed for good: its seat reopens (or is withdrawn when the route ended), and the
    signer and the IT admins are told why, in Thai. A failed document timestamp stops the route visibly
    (the document says why until an admin retries it)."""
    document = Document.objects.select_for_update().get(pk=job.subject_id)
    why = failure_text(code=job.error_code, message=job.error_message)
    seat = Assignment.objects.select_for_update().filter(signing_job_id=job.pk).select_related("tier").first()
    told: set[int] = set()
    reopened = False
    if seat is not None and seat.status == AssignmentStatus.APPROVED:
        running = (
            document.status == DocumentStatus.IN_PROGRESS
            and seat.tier.round == document.round
            and seat.tier.status == TierStatus.ACTIVE
        )
        told, reopened = {seat.signer_id, seat.decided_by_id}, running
        decided_by = seat.decided_by
        states.apply(
            states.ASSIGNMENT,
            seat,
            "reopen" if running else "cancel",
            signing_error=why[:500],
            signing_error_code=job.error_code[:64],
            **({"decided_by": None, "decided_at": None} if running else {}),
        )
        audit.record(
            action="assignment.reopened" if running else "assignment.withdrawn",
            target=document,
            outcome="failure",
            details={
                "assignment": seat.pk,
                "field": seat.field_name,
                "job": job.pk,
                "code": job.error_code,
                "reason": why,
                "decided_by": decided_by.username if decided_by else None,
            },
        )
        if running and decided_by is not None and decided_by.pk != seat.signer_id:
            services.document_access_sync(document=document)  # the delegate's decision is taken back
    ended = document.status not in (DocumentStatus.IN_PROGRESS, DocumentStatus.COMPLETED)
    if (job.kind == JobKind.SIGNATURE and not reopened) or ended:
        return  # the route ended or restarted first (recall, cancel, reject, return): nothing is owed any more
    Document.objects.filter(pk=document.pk).update(waiting_reason=why[:300])
    recipients = {user.pk: user for user in [*User.objects.filter(pk__in=told - {None}), *services.it_admins()]}
    for user in recipients.values():
        services.notify(
            user=user, document=document, kind="signing_failed", message=f"ลงนามไม่สำเร็จ: {document.title} — {why}"
        )
    services.webhook_on_commit(document, "signature.failed", {"job": job.pk, "error": job.error_message})


def retry_refusal(*, job: SigningJob) -> str:
    """A failed signature whose seat reopened or was withdrawn: the decision is gone, so is the retry."""
    if job.kind != JobKind.SIGNATURE:
        return ""
    seat = Assignment.objects.filter(signing_job_id=job.pk).first()
    if seat is None or seat.status != AssignmentStatus.APPROVED:
        return "The approval behind this signature was withdrawn when it failed; the signer approves again instead."
    return ""


__all__ = [
    "Basis",
    "latest_pdf",
    "signing_input",
    "signature_fields",
    "store_signed",
    "job_waiting",
    "job_failed",
    "retry_refusal",
    "version_read",
    "StoredFileCorrupted",
]
