"""Decisions of a seat: approve (with the signer's step-up), approve several at once, reject, return.

Who may decide is one predicate, `workflows.selectors.seat_for`, for every decision and every door.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from accounts.models import User
from accounts.selectors import device_aal
from signing import services as signing_services
from signing.models import SigningBatch

from .. import integrity, states
from ..errors import AlreadyDecided, InvalidDocument, NotAllowed, StaleVersion, WorkflowError
from ..models import Assignment, AssignmentStatus, Delegation, Document, DocumentVersion
from ..selectors import SIGNING_HANDLER, seat_for, signing_items
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


def _approval_possible(*, document: Document, actor: User, sha256: str | None) -> None:
    """Everything that refuses an approval before the one-time code is spent."""
    seat, _delegation = seat_for(document=document, actor=actor)
    _approval_room(seat=seat)
    _version_shown(document=document, sha256=sha256)


def decision_approve(
    *,
    document: Document,
    actor: User,
    otp: str | None = None,
    comment: str = "",
    batch: SigningBatch | None = None,
    sha256: str | None = None,
    request=None,
) -> Assignment:
    """The one approval service every door calls with what the signer sent: seat, step-up, decision.

    1. The seat: the actor must hold an undecided seat of the active tier (`selectors.seat_for`) that still
       has room (a tier takes as many approvals as its quorum), and `sha256` — the version the signer was
       shown — must still be the document being signed (StaleVersion, 409, otherwise); checked first so
       that a refused approval does not spend a one-time code. Without `sha256` (API clients that do not
       send it) the decision is about the current version at decision time and says so
       (`version_confirmed` false); the office pages always send it.
    2. The step-up: `otp` must be a fresh code of one of the actor's MFA devices, checked by the signer
       (`signing.services.signature_activate`, which is `mfa_step_up` asking for activation data bound to
       the document's current version; it commits its own throttling and audit rows, so a wrong code
       counts even though nothing else happens).
    3. The decision: recorded with the document row locked, the seat checked again under the lock; the
       signing job is created in the same transaction (in `batch` when given) and queued on commit.
    Raises a WorkflowError or accounts' StepUpFailed (both DomainError) when refused.
    """
    _approval_possible(document=document, actor=actor, sha256=sha256)
    activation, device = signing_services.signature_activate_with_device(
        user=actor, code=otp or "", items=signing_items([document]), request=request, min_aal=document.template.min_aal
    )
    return _approval_record(
        document=document,
        actor=actor,
        comment=comment,
        batch=batch,
        sha256=sha256,
        aal=device_aal(device),
        activation=activation,
    )


def _assurance_check(*, document: Document, aal: int, certificate) -> None:
    """The template's minimum authenticator (AAL) and identity-proofing (IAL) levels for its signers."""
    template = document.template
    if aal < template.min_aal:
        raise NotAllowed(
            f"This document needs a factor of AAL{template.min_aal} or higher (an authenticator app or a passkey); "
            f"the code came from an AAL{aal} factor."
        )
    if certificate.identity_proofing_level < template.min_ial:
        raise NotAllowed(
            f"This document needs a certificate whose holder was identity-proofed at IAL{template.min_ial} or "
            f"higher; yours records IAL{certificate.identity_proofing_level}. Ask the CA officer."
        )


@transaction.atomic(durable=True)
def _approval_record(
    *,
    document: Document,
    actor: User,
    comment: str,
    batch: SigningBatch | None,
    sha256: str | None,
    aal: int = 1,
    activation: str = "",
) -> Assignment:
    from certificates.selectors import certificate_for_signing

    document = document_lock(document)
    seat, delegation = seat_for(document=document, actor=actor)
    _approval_room(seat=seat)
    version, confirmed = _version_shown(document=document, sha256=sha256)
    certificate = certificate_for_signing(user=actor)
    if certificate is None:
        raise NotAllowed(
            _(
                "You have no active signing certificate (not issued, not accepted, expired or revoked); "
                "ask the CA officer."
            )
        )
    _assurance_check(document=document, aal=aal, certificate=certificate)
    now = timezone.now()
    states.apply(
        states.ASSIGNMENT,
        seat,
        "approve",
        decided_by=actor,
        decided_at=now,
        comment=(comment or "")[:2000],
        approved_version=version,
        approved_sha256=version.sha256,
        version_confirmed=confirmed,
        signing_error="",
        signing_error_code="",
    )
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
    )
    Assignment.objects.filter(pk=seat.pk).update(signing_job_id=job.pk)
    seat.signing_job_id = job.pk
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
            "ial": certificate.identity_proofing_level,
            "version": version.number,
            "sha256": version.sha256,
            # False: the client did not send the SHA-256 it showed; the current version was recorded.
            "version_confirmed": confirmed,
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
) -> tuple[SigningBatch, list[dict]]:
    """Approve several documents after one step-up (`otp`), each decision in its own transaction.

    `sha256` maps a document id to the version the signer was shown (see decision_approve).

    The step-up is done once, before any decision (StepUpFailed refuses the whole batch). One refusal does
    not undo the others: returns the batch (every queued signature belongs to it, for progress reports)
    and [{"document": id, "detail": why, "code": code}] for the documents refused.
    """
    # One activation covers every document the user confirmed, each bound to the version they saw.
    activation, device = signing_services.signature_activate_with_device(
        user=actor, code=otp or "", items=signing_items(documents), request=request
    )
    aal = device_aal(device)
    batch = signing_services.signing_batch_create(signer=actor)
    errors: list[dict] = []
    for document in documents:
        try:
            _approval_record(
                document=document,
                actor=actor,
                comment=comment,
                batch=batch,
                sha256=(sha256 or {}).get(document.pk),
                aal=aal,
                activation=activation,
            )
        except WorkflowError as exc:
            errors.append({"document": document.pk, "detail": exc.message, "code": exc.code})
    queued = len(documents) - len(errors)
    SigningBatch.objects.filter(pk=batch.pk).update(total=queued)
    batch.total = queued
    audit.record(
        actor=actor,
        action="batch.approved",
        target=batch,
        details={"approved": queued, "refused": [e["document"] for e in errors]},
    )
    return batch, errors
