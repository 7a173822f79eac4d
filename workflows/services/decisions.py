"""Decisions of a seat: approve (with the signer's step-up), approve several at once, reject, return.

Who may decide is one predicate, `workflows.selectors.seat_for`, for every decision and every door.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from accounts.models import User
from accounts.selectors import device_aal, device_kind
from signing import services as signing_services
from signing.models import SigningBatch

from .. import integrity, states
from ..errors import AlreadyDecided, InvalidDocument, NotAllowed, StaleVersion, WorkflowError
from ..models import Assignment, AssignmentStatus, Delegation, Document, DocumentStatus, DocumentVersion, TierStatus
from ..selectors import SIGNING_HANDLER, seat_for, signing_items
from .access import document_access_decided
from .common import document_lock, notify, text_required, webhook_on_commit
from .routes import round_start, route_close


def _acting_for_words(*, seat: Assignment, delegation: Delegation) -> str:
    holder = seat.signer
    return f"{Delegation.Kind(delegation.kind).label} {holder.position or holder.full_name_th}".strip()


def _appearance_for(*, actor: User, seat: Assignment, delegation: Delegation | None, at, comment: str = "") -> dict:
    """What the stamp shows: the whole signature block (comment, signature, name, position, date)."""
    image = actor.signature_image.name if actor.signature_image else ""
    return {
        "comment": comment,
        "full_name_th": actor.full_name_th,
        "position": actor.position,
        "acting_for": _acting_for_words(seat=seat, delegation=delegation) if delegation else "",
        "signed_at": at.isoformat(),
        "image_path": image,
    }


def _signature_reason(*, actor: User, seat: Assignment, delegation: Delegation | None) -> str:
    reason = "อนุมัติ / approved"
    if delegation is not None:
        kind = Delegation.Kind(delegation.kind).label
        reason = f"{reason} — {actor.full_name_th} {kind} {seat.signer.full_name_th}"
    return reason[:300]


def _approval_room(*, seat: Assignment) -> None:
    """A tier takes as many approvals as its quorum: more would put signatures in the file after the
    tier is complete (and after the next tier's). A seat whose signature fails reopens and makes room."""
    tier = seat.tier
    taken = tier.assignments.filter(status__in=[AssignmentStatus.APPROVED, AssignmentStatus.SIGNED]).count()
    if taken >= tier.quorum:
        raise AlreadyDecided(
            _(
                "This tier already has the approvals it needs; their signatures are being made. "
                "If one of them fails, the seats open again."
            )
        )


def _version_shown(*, document: Document, sha256: str | None) -> tuple[DocumentVersion, bool]:
    """The version the decision is about: the one named by `sha256`, or (not sent) the current one."""
    if sha256 is None or not sha256.strip():
        return integrity.version_current(document), False
    version = integrity.version_named(document=document, sha256=sha256)
    if version is None:
        raise StaleVersion(
            _(
                "The document has changed since you opened it (sha256 is not the current version); "
                "reload it, check the current version and decide again."
            )
        )
    return version, True


@dataclass
class _Checked:
    """An approval that may be recorded (the document is locked): the seat, who holds it for whom, the
    version decided on, the certificate that will sign, and what the step-up binds (the current version)."""

    seat: Assignment
    delegation: Delegation | None
    version: DocumentVersion
    confirmed: bool
    certificate: object
    item: dict


@dataclass(frozen=True)
class _CertificateRef:
    pk: int
    identity_proofing_level: int


def _approval_checks(*, document: Document, actor: User, sha256: str | None) -> _Checked:
    """Everything that refuses an approval, with `document` locked, before any code is spent.

    The common case — the actor's own pending seat in the active tier — is read in one statement with
    the tier, its approvals, the current version and the actor's certificate; anything else (a seat held
    by delegation, a refusal) goes through `selectors.seat_for` and its reasons.
    """
    from certificates.selectors import certificate_for_signing, certificate_for_signing_annotations

    newest = DocumentVersion.objects.filter(document_id=document.pk).order_by("-number")
    taken = Assignment.objects.filter(
        tier_id=OuterRef("tier_id"), status__in=[AssignmentStatus.APPROVED, AssignmentStatus.SIGNED]
    ).order_by()
    seat = (
        Assignment.objects.select_related("tier")
        .filter(
            document_id=document.pk,
            signer=actor,
            status=AssignmentStatus.PENDING,
            tier__round=document.round,
            tier__status=TierStatus.ACTIVE,
        )
        .annotate(
            taken=Subquery(taken.values("tier_id").annotate(n=Count("pk")).values("n")[:1]),
            latest_id=Subquery(newest.values("pk")[:1]),
            latest_number=Subquery(newest.values("number")[:1]),
            latest_sha256=Subquery(newest.values("sha256")[:1]),
            latest_size=Subquery(newest.values("size")[:1]),
            **certificate_for_signing_annotations(actor.pk),
        )
        .first()
        if document.status == DocumentStatus.IN_PROGRESS
        else None
    )
    if seat is None:
        seat, delegation = seat_for(document=document, actor=actor)
        _approval_room(seat=seat)
        version, confirmed = _version_shown(document=document, sha256=sha256)
        certificate = certificate_for_signing(user=actor)
        items = signing_items([document])
        return _Checked(seat, delegation, version, confirmed, certificate, items[0] if items else {})
    if (seat.taken or 0) >= seat.tier.quorum:
        _approval_room(seat=seat)
    latest = DocumentVersion(
        id=seat.latest_id,
        document_id=document.pk,
        number=seat.latest_number,
        sha256=seat.latest_sha256,
        size=seat.latest_size,
    )
    latest._state.adding, latest._state.db = False, "default"
    wanted = (sha256 or "").strip().lower()
    if not wanted or wanted == latest.sha256:
        version, confirmed = latest, bool(wanted)
    else:
        version, confirmed = _version_shown(document=document, sha256=sha256)
    certificate = (
        _CertificateRef(seat.signing_certificate_id, seat.signing_certificate_ial)
        if seat.signing_certificate_id
        else None
    )
    item = {"subject": document.pk, "sha256": latest.sha256, "size": latest.size}
    return _Checked(seat, None, version, confirmed, certificate, item)


def _approval_checked(*, document: Document, actor: User, sha256: str | None, lock: bool = True):
    """The document (locked, unless `lock` is false) and everything that refuses an approval of it before
    any code is spent, the signer's certificate included: (document, _Checked)."""
    if lock:
        document = document_lock(document)
    checked = _approval_checks(document=document, actor=actor, sha256=sha256)
    _certificate_check(document=document, certificate=checked.certificate)
    return document, checked


def approval_passkey_options(
    *, documents: list[Document], actor: User, sha256: dict[int, str] | None = None, request=None
) -> dict:
    """navigator.credentials.get() options for approving `documents` with a passkey: the challenge carries
    each document's current version (checked like an approval first), so its answer approves nothing else."""
    for document in documents:
        # the approval's own checks: a passkey is not asked for what the approval would refuse anyway
        _approval_checked(document=document, actor=actor, sha256=(sha256 or {}).get(document.pk), lock=False)
    return signing_services.signature_passkey_options(user=actor, items=signing_items(documents), request=request)


def decision_approve(
    *,
    document: Document,
    actor: User,
    otp: str | None = None,
    comment: str = "",
    batch: SigningBatch | None = None,
    sha256: str | None = None,
    request=None,
    webauthn: dict | str | None = None,
) -> Assignment:
    """The one approval service every door calls with what the signer sent: seat, step-up, decision.

    One transaction, with the document row locked throughout:
    1. The seat: the actor must hold an undecided seat of the active tier (`selectors.seat_for`) that still
       has room (a tier takes as many approvals as its quorum), and `sha256` — the version the signer was
       shown — must still be the document being signed (StaleVersion, 409, otherwise); checked first so
       that a refused approval does not spend a one-time code. Without `sha256` (API clients that do not
       send it) the decision is about the current version at decision time and says so
       (`version_confirmed` false); the office pages always send it. The certificate that will sign must
       be usable and identity-proofed as the template asks.
    2. The step-up: `otp` must be a fresh code of one of the actor's MFA devices, checked by the signer
       (`signing.services.signature_activate`, which is `mfa_step_up` asking for activation data bound to
       the document's current version). A refused code commits its throttling and audit rows (and
       nothing else) before StepUpFailed is raised, so a wrong code counts. Instead of `otp`, `webauthn` may
       be a passkey's answer to `approval_passkey_options` for this document (AAL3).
    3. The decision: the seat approved and the signing job created (in `batch` when given), queued on
       commit; the step-up's audit event and the approval's are appended together.
    Raises a WorkflowError or accounts' StepUpFailed (both DomainError) when refused.
    """
    from accounts.services import StepUpFailed

    refused: StepUpFailed | None = None
    with transaction.atomic(durable=True), audit.together():
        document, checked = _approval_checked(document=document, actor=actor, sha256=sha256)
        try:
            activation, device = signing_services.signature_activate_with_device(
                user=actor,
                code=otp or "",
                items=[checked.item] if checked.item else [],
                request=request,
                min_aal=document.template.min_aal,
                assertion=webauthn,
            )
        except StepUpFailed as exc:
            refused = exc
        else:
            seat = _approval_write(
                document=document,
                actor=actor,
                checked=checked,
                comment=comment,
                batch=batch,
                aal=device_aal(device),
                factor=device_kind(device),
                activation=activation,
            )
    if refused is not None:
        raise refused
    return seat


def _certificate_check(*, document: Document, certificate) -> None:
    """The actor has a certificate that can sign, identity-proofed at the template's IAL."""
    if certificate is None:
        raise NotAllowed(
            _(
                "You have no active signing certificate (not issued, not accepted, expired or revoked); "
                "ask the CA officer."
            )
        )
    template = document.template
    if certificate.identity_proofing_level < template.min_ial:
        raise NotAllowed(
            f"This document needs a certificate whose holder was identity-proofed at IAL{template.min_ial} or "
            f"higher; yours records IAL{certificate.identity_proofing_level}. Ask the CA officer."
        )


def _aal_check(*, document: Document, aal: int) -> None:
    """The template's minimum authenticator level (AAL) for its signers."""
    template = document.template
    if aal < template.min_aal:
        raise NotAllowed(
            f"This document needs a factor of AAL{template.min_aal} or higher (an authenticator app or a passkey); "
            f"the code came from an AAL{aal} factor."
        )


def _approval_write(
    *,
    document: Document,
    actor: User,
    checked: _Checked,
    comment: str,
    batch: SigningBatch | None,
    aal: int,
    activation: str,
    factor: str = "",
    enqueue: bool = True,
) -> Assignment:
    """Record a checked approval (document locked): the seat approved, its signing job, the audit event."""
    _aal_check(document=document, aal=aal)
    seat, delegation, version, certificate = checked.seat, checked.delegation, checked.version, checked.certificate
    now = timezone.now()
    job = signing_services.signing_job_create(
        handler=SIGNING_HANDLER,
        subject_id=document.pk,
        field_name=seat.field_name,
        level=document.pades_level,
        certificate_id=certificate.pk,
        page=seat.page,
        box=seat.box,
        appearance=_appearance_for(
            actor=actor, seat=seat, delegation=delegation, at=now, comment=(comment or "")[:2000]
        ),
        reason=_signature_reason(actor=actor, seat=seat, delegation=delegation),
        batch=batch,
        activation=activation,
        enqueue=enqueue,
    )
    states.apply(
        states.ASSIGNMENT,
        seat,
        "approve",
        decided_by=actor,
        decided_at=now,
        comment=(comment or "")[:2000],
        approved_version=version,
        approved_sha256=version.sha256,
        version_confirmed=checked.confirmed,
        signing_error="",
        signing_error_code="",
        signing_job_id=job.pk,
    )
    document_access_decided(document=document, seat=seat, actor=actor)
    audit.record(
        actor=actor,
        action="document.approved",
        target=document,
        details={
            "assignment": seat.pk,
            "field": seat.field_name,
            "tier": seat.tier.order,
            "round": document.round,
            "job": job.pk,
            "on_behalf_of": seat.signer.username if delegation else None,
            "delegation": delegation.kind if delegation else None,
            "aal": aal,
            "factor": factor,
            "ial": certificate.identity_proofing_level,
            "version": version.number,
            "sha256": version.sha256,
            # False: the client did not send the SHA-256 it showed; the current version was recorded.
            "version_confirmed": checked.confirmed,
        },
    )
    # The tier completes when the signatures are in the file (signing handler), never on approvals.
    return seat


@transaction.atomic(durable=True)
def decision_reject(*, document: Document, actor: User, comment: str) -> Assignment:
    """Reject: the route ends and the requester is told why."""
    comment = text_required(comment, _("Say why you reject the document (a comment is required)."))
    document = document_lock(document)
    seat, delegation = seat_for(document=document, actor=actor)
    now = timezone.now()
    states.apply(states.ASSIGNMENT, seat, "reject", decided_by=actor, decided_at=now, comment=comment[:2000])
    document_access_decided(document=document, seat=seat, actor=actor)
    route_close(document=document)
    states.apply(states.DOCUMENT, document, "reject")
    audit.record(
        actor=actor,
        action="document.rejected",
        target=document,
        details={
            "assignment": seat.pk,
            "tier": seat.tier.order,
            "comment": comment[:500],
            "on_behalf_of": seat.signer.username if delegation else None,
        },
    )
    notify(
        user=document.requester,
        document=document,
        kind="rejected",
        message=f"เอกสารไม่ได้รับการอนุมัติ: {document.title} — {comment[:200]}",
    )
    webhook_on_commit(document, "document.rejected", {"comment": comment[:500]})
    return seat


@transaction.atomic(durable=True)
def decision_return(*, document: Document, actor: User, comment: str, to_tier: int | None = None) -> Document:
    """Return for revision: to the requester (a new file restarts the route) or to an earlier tier.

    Returned to an earlier tier, the route restarts from that tier on the same file: the tiers before it
    keep their signatures, that tier and the ones after it are asked again.
    """
    comment = text_required(comment, _("Say what should be revised (a comment is required)."))
    document = document_lock(document)
    seat, delegation = seat_for(document=document, actor=actor)
    if to_tier is not None and not (1 <= to_tier <= seat.tier.order):
        raise InvalidDocument(_("You can only return the document to your own tier or an earlier one."))
    now = timezone.now()
    states.apply(states.ASSIGNMENT, seat, "return", decided_by=actor, decided_at=now, comment=comment[:2000])
    document_access_decided(document=document, seat=seat, actor=actor)
    route_close(document=document)
    audit.record(
        actor=actor,
        action="document.returned",
        target=document,
        details={
            "assignment": seat.pk,
            "tier": seat.tier.order,
            "comment": comment[:500],
            "to_tier": to_tier,
            "round": document.round,
            "on_behalf_of": seat.signer.username if delegation else None,
        },
    )
    if to_tier is None:
        states.apply(states.DOCUMENT, document, "return")
        notify(
            user=document.requester,
            document=document,
            kind="returned",
            message=f"เอกสารถูกส่งกลับให้แก้ไข: {document.title} — {comment[:200]}",
        )
    else:
        round_start(document=document, from_tier=to_tier)
    return document


def decision_approve_batch(
    *,
    documents: list[Document],
    actor: User,
    otp: str | None = None,
    comment: str = "",
    sha256: dict[int, str] | None = None,
    request=None,
    webauthn: dict | str | None = None,
) -> tuple[SigningBatch, list[dict]]:
    """Approve several documents after one step-up (`otp`), all decisions in one transaction.

    `sha256` maps a document id to the version the signer was shown (see decision_approve).

    The step-up is done once, before any decision (StepUpFailed refuses the whole batch). One refusal does
    not undo the others (each document is decided in its own savepoint, the documents locked in id
    order): returns the batch and [{"document": id, "detail": why, "code": code}] for the documents
    refused. The batch's signing jobs are queued as one task (`signing.services.signing_batch_run`)
    once the transaction commits.
    """
    # One activation covers every document the user confirmed, each bound to the version they saw.
    activation, device = signing_services.signature_activate_with_device(
        user=actor, code=otp or "", items=signing_items(documents), request=request, assertion=webauthn
    )
    aal, factor = device_aal(device), device_kind(device)
    refused: dict[int, dict] = {}
    with transaction.atomic(durable=True):
        batch = signing_services.signing_batch_create(signer=actor)
        for document in sorted(documents, key=lambda d: d.pk):
            try:
                with transaction.atomic():
                    locked, checked = _approval_checked(
                        document=document, actor=actor, sha256=(sha256 or {}).get(document.pk)
                    )
                    _approval_write(
                        document=locked,
                        actor=actor,
                        checked=checked,
                        comment=comment,
                        batch=batch,
                        aal=aal,
                        factor=factor,
                        activation=activation,
                        enqueue=False,
                    )
            except WorkflowError as exc:
                refused[document.pk] = {"document": document.pk, "detail": exc.message, "code": exc.code}
        errors = [refused[d.pk] for d in documents if d.pk in refused]
        queued = len(documents) - len(errors)
        SigningBatch.objects.filter(pk=batch.pk).update(total=queued)
        batch.total = queued
        audit.record(
            actor=actor,
            action="batch.approved",
            target=batch,
            details={"approved": queued, "refused": [e["document"] for e in errors]},
        )
        if queued:
            signing_services.signing_batch_enqueue(batch_id=batch.pk)
    return batch, errors
