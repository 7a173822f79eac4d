"""Routing documents through tiers of signers: every write of the workflow engine lives here.

Each service is one transaction that also writes its audit event. Decisions lock the document row first
(`select_for_update`), so quorum counting and tier advance are serialised per document: a tier advances
exactly once however many approvals race. Signing jobs and notifications are sent on commit.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass
from datetime import timedelta

import pikepdf
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import audit
from accounts.models import User
from core import storage
from signing import services as signing_services
from signing.models import JobKind, PadesLevel

from . import states
from .models import (
    Assignment,
    AssignmentStatus,
    Delegation,
    Document,
    DocumentStatus,
    DocumentVersion,
    Notification,
    RouteTier,
    TierStatus,
    WorkflowTemplate,
)

logger = logging.getLogger(__name__)

SIGNING_HANDLER = "workflows.signing_handler"
SLOT_WIDTH, SLOT_HEIGHT, SLOT_GAP, SLOT_MARGIN = 170.0, 62.0, 8.0, 36.0


WorkflowError = states.WorkflowError


class NotYourTurn(WorkflowError):
    status = 403


class AlreadyDecided(WorkflowError):
    status = 409


class NotFound(WorkflowError):
    status = 404


class InvalidDocument(WorkflowError):
    status = 400


class NotAllowed(WorkflowError):
    status = 403


@dataclass(frozen=True)
class PdfInfo:
    pages: list[tuple[float, float]]


def pdf_inspect(data: bytes) -> PdfInfo:
    """Check that `data` is a PDF we can route: readable, not encrypted, with pages."""
    if not data:
        raise InvalidDocument("The file is empty.")
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise InvalidDocument(f"The file is larger than {settings.MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    if not data.lstrip()[:5].startswith(b"%PDF-"):
        raise InvalidDocument("The file is not a PDF.")
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            if pdf.is_encrypted:
                raise InvalidDocument("The PDF is encrypted; upload it without a password.")
            pages = []
            for page in pdf.pages:
                x1, y1, x2, y2 = (float(v) for v in page.mediabox)
                pages.append((x2 - x1, y2 - y1))
    except pikepdf.PasswordError as exc:
        raise InvalidDocument("The PDF is encrypted; upload it without a password.") from exc
    except InvalidDocument:
        raise
    except Exception as exc:  # pikepdf raises many types on broken files; all mean "cannot read it"
        raise InvalidDocument("The PDF is damaged and cannot be read.") from exc
    if not pages:
        raise InvalidDocument("The PDF has no pages.")
    return PdfInfo(pages=pages)


def _store_version(*, document: Document, data: bytes, kind: str, signing_job_id: int | None = None) -> DocumentVersion:
    number = (document.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    digest = hashlib.sha256(data).hexdigest()
    stored = storage.store(
        storage=default_storage, name=f"documents/{document.pk}/v{number}-{digest[:16]}.pdf", data=data
    )
    return DocumentVersion.objects.create(
        document=document,
        number=number,
        kind=kind,
        file=stored.name,
        sha256=stored.sha256,
        size=stored.size,
        signing_job_id=signing_job_id,
    )


def resolve_signers(*, tier, requester: User) -> list[User]:
    """Explicit users of a template tier, plus those holding `rule_position` in the unit the rule names."""
    users = list(tier.signers.filter(is_active=True).order_by("id"))
    if tier.rule_position:
        if tier.rule_org_unit_id:
            units = [tier.rule_org_unit]
        elif requester.org_unit_id:
            units = [requester.org_unit, *requester.org_unit.ancestors()]
        else:
            units = []
        for unit in units:
            found = list(User.objects.filter(is_active=True, position=tier.rule_position, org_unit=unit).order_by("id"))
            if found:
                users.extend(u for u in found if u not in users)
                break
    return users


def _auto_slots(page_size: tuple[float, float], tier_sizes: list[int]) -> list[list[list[float]]]:
    """Boxes laid out in rows from the bottom of the last page: one row per tier, seats side by side."""
    width, _ = page_size
    per_row = max(1, int((width - 2 * SLOT_MARGIN + SLOT_GAP) // (SLOT_WIDTH + SLOT_GAP)))
    rows_used = 0
    layout = []
    for size in reversed(tier_sizes):
        boxes = []
        rows = max(1, -(-size // per_row))
        for seat in range(size):
            row = rows_used + (rows - 1 - seat // per_row)
            col = seat % per_row
            x1 = SLOT_MARGIN + col * (SLOT_WIDTH + SLOT_GAP)
            y1 = SLOT_MARGIN + row * (SLOT_HEIGHT + SLOT_GAP)
            boxes.append([x1, y1, x1 + SLOT_WIDTH, y1 + SLOT_HEIGHT])
        rows_used += rows
        layout.append(boxes)
    return list(reversed(layout))


def _check_placement(placement: dict, info: PdfInfo) -> tuple[int, list[float]]:
    try:
        page = int(placement.get("page", 0))
        box = [float(v) for v in placement["box"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidDocument("A signature box needs a page and four numbers [x1, y1, x2, y2].") from exc
    if not 0 <= page < len(info.pages) or len(box) != 4:
        raise InvalidDocument(f"Signature box page {page + 1} does not exist in the document.")
    width, height = info.pages[page]
    x1, y1, x2, y2 = box
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height) or (x2 - x1) < 20 or (y2 - y1) < 10:
        raise InvalidDocument("A signature box lies outside its page or is too small.")
    return page, box


@transaction.atomic(durable=True)
def route_start(
    *,
    title: str,
    pdf: bytes,
    template: WorkflowTemplate,
    actor: User,
    placements: dict[str, dict] | None = None,
) -> Document:
    """Create a document, its first version and its route; the first tier opens at once.

    `placements` maps a signer's username to {"page": n, "box": [x1, y1, x2, y2]} to move a box.
    """
    title = (title or "").strip()
    if not title:
        raise InvalidDocument("A title is required.")
    if not template.active:
        raise InvalidDocument(f"The workflow template {template.code!r} is not active.")
    info = pdf_inspect(pdf)
    template_tiers = list(template.tiers.order_by("order"))
    if not template_tiers:
        raise InvalidDocument(f"The workflow template {template.code!r} has no tiers.")
    seats: list[tuple] = []
    for tier in template_tiers:
        signers = resolve_signers(tier=tier, requester=actor)
        quorum = tier.quorum or len(signers)
        if len(signers) < max(quorum, 1):
            raise InvalidDocument(f"Tier {tier.order} ({tier.name}) has {len(signers)} signers but needs {quorum}.")
        seats.append((tier, signers, quorum))
    if not template.allow_multiple_seats:
        seen: set[int] = set()
        for _, signers, _ in seats:
            for user in signers:
                if user.pk in seen:
                    raise InvalidDocument(f"{user.full_name_th} would hold two seats in this route.")
                seen.add(user.pk)
    document = Document.objects.create(
        title=title[:300],
        requester=actor,
        template=template,
        status=states.DOCUMENT_INITIAL,
        pades_level=template.pades_level,
    )
    _store_version(document=document, data=pdf, kind=DocumentVersion.Kind.ORIGINAL)
    last_page = len(info.pages) - 1
    layout = _auto_slots(info.pages[last_page], [len(signers) for _, signers, _ in seats])
    placements = placements or {}
    seat_number = 0
    for (tier, signers, quorum), boxes in zip(seats, layout, strict=False):
        route_tier = RouteTier.objects.create(
            document=document, round=1, order=tier.order, name=tier.name, quorum=quorum
        )
        for user, box in zip(signers, boxes, strict=False):
            seat_number += 1
            page, slot = last_page, box
            if user.username in placements:
                page, slot = _check_placement(placements[user.username], info)
            Assignment.objects.create(
                tier=route_tier,
                document=document,
                signer=user,
                field_name=f"Sig{seat_number}_r1",
                page=page,
                box=slot,
            )
    audit.record(
        actor=actor,
        action="document.created",
        target=document,
        details={"template": template.code, "sha256": document.versions.get().sha256, "pages": len(info.pages)},
    )
    _tier_open(document=document, round=1, order=template_tiers[0].order)
    return document


def _tier_open(*, document: Document, round: int, order: int) -> RouteTier:
    tier = RouteTier.objects.select_for_update().get(document=document, round=round, order=order)
    hours = document.template.tiers.filter(order=order).values_list("due_hours", flat=True).first() or 72
    now = timezone.now()
    states.apply(states.TIER, tier, "activate", activated_at=now, due_at=now + timedelta(hours=hours))
    tier.assignments.update(waiting_since=now)
    audit.record(action="route.tier_opened", target=document, details={"round": round, "tier": order})
    for assignment in tier.assignments.select_related("signer"):
        _notify(
            user=assignment.signer, document=document, kind="assigned", message=f"เอกสารรอท่านลงนาม: {document.title}"
        )
    return tier


def _notify(*, user: User, document: Document | None, kind: str, message: str) -> None:
    """In-app notification now; the e-mail after commit (a rolled-back change sends nothing)."""
    Notification.objects.create(user=user, document=document, kind=kind, message=message[:500])
    if user.email:
        from .notifications import notification_email_send

        user_id, document_id = user.pk, document.pk if document else None
        transaction.on_commit(
            lambda: notification_email_send(user_id=user_id, subject=message, document_id=document_id, kind=kind)
        )


def current_tier_ids(document: Document) -> list[int]:
    """The tiers of the running round: per order, the newest round's tier.

    A return to an earlier tier starts a new round from that tier; the tiers before it are not copied,
    so their (signed) seats stay the ones that count.
    """
    newest: dict[int, tuple[int, int]] = {}
    for pk, order, round_ in document.tiers.filter(round__lte=document.round).values_list("pk", "order", "round"):
        if order not in newest or round_ > newest[order][0]:
            newest[order] = (round_, pk)
    return [pk for _, pk in newest.values()]


def _current_assignments(document: Document):
    return Assignment.objects.filter(tier_id__in=current_tier_ids(document))


def _active_tier(document: Document) -> RouteTier | None:
    return document.tiers.filter(round=document.round, status=TierStatus.ACTIVE).first()


def _delegations_active(*, delegate: User, at=None):
    at = at or timezone.now()
    return Delegation.objects.filter(delegate=delegate, starts_at__lte=at, ends_at__gt=at, revoked_at__isnull=True)


def delegators_for(user: User, at=None) -> list[int]:
    return list(_delegations_active(delegate=user, at=at).values_list("delegator_id", flat=True))


def _seat_for(*, document: Document, actor: User) -> tuple[Assignment, Delegation | None]:
    """The actor's own pending seat in the active tier, or one they hold by delegation; else why not."""
    if document.status != DocumentStatus.IN_PROGRESS:
        raise AlreadyDecided(f"The document is {document.get_status_display()}; no more decisions are taken.")
    tier = _active_tier(document)
    current = _current_assignments(document)
    if tier is not None:
        own = tier.assignments.filter(signer=actor).first()
        if own is not None and own.status == AssignmentStatus.PENDING:
            return own, None
        delegations = _delegations_active(delegate=actor).order_by("-starts_at")
        if own is None and delegations:
            by_delegator = {}
            for delegation in delegations:
                by_delegator.setdefault(delegation.delegator_id, delegation)
            held = tier.assignments.filter(signer_id__in=by_delegator, status=AssignmentStatus.PENDING).first()
            if held is not None:
                # Acting for someone must not give a person a second seat in the route.
                if not document.template.allow_multiple_seats and current.filter(signer=actor).exists():
                    raise NotYourTurn("You hold your own seat in this route, so you cannot also sign for someone.")
                return held, by_delegator[held.signer_id]
        if own is not None:
            if own.status == AssignmentStatus.NOT_NEEDED:
                raise AlreadyDecided("This tier already has the approvals it needs; your signature is not needed.")
            raise AlreadyDecided("You have already decided on this document.")
    mine = current.filter(signer=actor).select_related("tier").order_by("-tier__round").first()
    if mine is None:
        raise NotFound("You are not a signer of this document.")
    if mine.tier.status == TierStatus.PENDING:
        raise NotYourTurn("It is not your turn yet: an earlier tier has not finished.")
    if mine.status == AssignmentStatus.NOT_NEEDED or mine.tier.status != TierStatus.ACTIVE:
        raise AlreadyDecided("This tier has closed; your decision is no longer needed.")
    raise AlreadyDecided("You have already decided on this document.")


def _lock(document: Document) -> Document:
    return Document.objects.select_for_update().select_related("template").get(pk=document.pk)


def _acting_for_words(*, seat: Assignment, delegation: Delegation) -> str:
    holder = seat.signer
    return f"{Delegation.Kind(delegation.kind).label} {holder.position or holder.full_name_th}".strip()


def _appearance_for(*, actor: User, seat: Assignment, delegation: Delegation | None, at) -> dict:
    image = actor.signature_image.name if actor.signature_image else ""
    return {
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


@transaction.atomic(durable=True)
def decision_approve(
    *, document: Document, actor: User, comment: str = "", step_up_verified: bool, activation: str = ""
) -> Assignment:
    """Record the actor's approval and queue their signature. The caller has done the MFA step-up;
    ``activation`` is the signature activation data the signer issued for it (signing.activation)."""
    from certificates.selectors import certificate_for_signing

    if not step_up_verified:
        raise NotYourTurn("A fresh MFA step-up is required before signing.")
    document = _lock(document)
    seat, delegation = _seat_for(document=document, actor=actor)
    certificate = certificate_for_signing(user=actor)
    if certificate is None:
        raise NotAllowed(
            "You have no active signing certificate (not issued, not accepted, expired or revoked); ask the CA officer."
        )
    now = timezone.now()
    states.apply(states.ASSIGNMENT, seat, "approve", decided_by=actor, decided_at=now, comment=(comment or "")[:2000])
    job = signing_services.signing_job_create(
        handler=SIGNING_HANDLER,
        subject_id=document.pk,
        field_name=seat.field_name,
        level=document.pades_level,
        certificate_id=certificate.pk,
        page=seat.page,
        box=seat.box,
        appearance=_appearance_for(actor=actor, seat=seat, delegation=delegation, at=now),
        reason=_signature_reason(actor=actor, seat=seat, delegation=delegation),
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
        },
    )
    _tier_maybe_advance(document=document, tier=seat.tier)
    return seat


def _tier_maybe_advance(*, document: Document, tier: RouteTier) -> None:
    tier = RouteTier.objects.select_for_update().get(pk=tier.pk)
    approvals = tier.assignments.filter(status__in=[AssignmentStatus.APPROVED, AssignmentStatus.SIGNED]).count()
    if tier.status != TierStatus.ACTIVE or approvals < tier.quorum:
        return
    now = timezone.now()
    skipped = states.apply_bulk(states.ASSIGNMENT, tier.assignments.all(), "skip", decided_at=now)
    states.apply(states.TIER, tier, "complete", completed_at=now)
    audit.record(
        action="route.tier_completed",
        target=document,
        details={"round": tier.round, "tier": tier.order, "not_needed": skipped},
    )
    _on_commit_webhook(document, "tier.completed", {"tier": tier.order})
    following = document.tiers.filter(round=tier.round, order__gt=tier.order, status=TierStatus.PENDING)
    nxt = following.order_by("order").first()
    if nxt is not None:
        _tier_open(document=document, round=tier.round, order=nxt.order)
    else:
        _route_maybe_complete(document=document)


def _route_maybe_complete(*, document: Document, finishing_job_id: int | None = None) -> None:
    """After the last tier: wait for every signature, then the document timestamp (B-LTA), then done."""
    from signing.models import JobStatus, SigningJob

    if document.status != DocumentStatus.IN_PROGRESS:
        return
    tier_ids = current_tier_ids(document)
    if RouteTier.objects.filter(pk__in=tier_ids).exclude(status=TierStatus.COMPLETED).exists():
        return
    if Assignment.objects.filter(tier_id__in=tier_ids, status=AssignmentStatus.APPROVED).exists():
        return
    jobs = SigningJob.objects.filter(handler=SIGNING_HANDLER, subject_id=document.pk)
    if document.pades_level == PadesLevel.B_LTA:
        field = f"DocTS_r{document.round}"
        dts = jobs.filter(field_name=field).first()
        if dts is None:
            signing_services.signing_job_create(
                handler=SIGNING_HANDLER,
                subject_id=document.pk,
                field_name=field,
                level=PadesLevel.B_LTA,
                kind=JobKind.DOCUMENT_TIMESTAMP,
            )
            return
        if dts.status != JobStatus.DONE and dts.pk != finishing_job_id:
            return
    now = timezone.now()
    states.apply(states.DOCUMENT, document, "complete", completed_at=now, waiting_reason="")
    audit.record(action="document.completed", target=document, details={"round": document.round})
    _notify(
        user=document.requester, document=document, kind="completed", message=f"เอกสารลงนามครบถ้วนแล้ว: {document.title}"
    )
    _on_commit_webhook(document, "document.completed", {})
    document_id = document.pk
    transaction.on_commit(lambda: _archive_enqueue(document_id))


def _archive_enqueue(document_id: int) -> None:
    try:
        from django_q.tasks import async_task

        async_task("workflows.tasks.make_archive_copy", document_id)
    except Exception:  # the archive copy is best effort here; make_archive_copy can be run again by an admin
        logger.exception("could not enqueue the archive copy of document %s", document_id)


def _on_commit_webhook(document: Document, event: str, payload: dict) -> None:
    try:
        from . import webhooks
    except ImportError:
        return
    webhooks.emit(document=document, event=event, payload=payload)


def _required(text: str | None, message: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidDocument(message)
    return text


@transaction.atomic(durable=True)
def decision_reject(*, document: Document, actor: User, comment: str) -> Assignment:
    """Reject: the route ends and the requester is told why."""
    comment = _required(comment, "Say why you reject the document (a comment is required).")
    document = _lock(document)
    seat, delegation = _seat_for(document=document, actor=actor)
    now = timezone.now()
    states.apply(states.ASSIGNMENT, seat, "reject", decided_by=actor, decided_at=now, comment=comment[:2000])
    _route_close(document=document)
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
    _notify(
        user=document.requester,
        document=document,
        kind="rejected",
        message=f"เอกสารไม่ได้รับการอนุมัติ: {document.title} — {comment[:200]}",
    )
    _on_commit_webhook(document, "document.rejected", {"comment": comment[:500]})
    return seat


def _route_close(*, document: Document) -> None:
    """The route stops: undecided seats are cancelled, unfinished tiers closed. Decided seats stay as they are."""
    current = _current_assignments(document)
    states.apply_bulk(states.ASSIGNMENT, current, "cancel", decided_at=timezone.now())
    states.apply_bulk(states.TIER, document.tiers.filter(round=document.round), "close")


@transaction.atomic(durable=True)
def decision_return(*, document: Document, actor: User, comment: str, to_tier: int | None = None) -> Document:
    """Return for revision: to the requester (a new file restarts the route) or to an earlier tier.

    Returned to an earlier tier, the route restarts from that tier on the same file: the tiers before it
    keep their signatures, that tier and the ones after it are asked again.
    """
    comment = _required(comment, "Say what should be revised (a comment is required).")
    document = _lock(document)
    seat, delegation = _seat_for(document=document, actor=actor)
    if to_tier is not None and not (1 <= to_tier <= seat.tier.order):
        raise InvalidDocument("You can only return the document to your own tier or an earlier one.")
    now = timezone.now()
    states.apply(states.ASSIGNMENT, seat, "return", decided_by=actor, decided_at=now, comment=comment[:2000])
    _route_close(document=document)
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
        _notify(
            user=document.requester,
            document=document,
            kind="returned",
            message=f"เอกสารถูกส่งกลับให้แก้ไข: {document.title} — {comment[:200]}",
        )
    else:
        _round_start(document=document, from_tier=to_tier)
    return document


def _round_start(*, document: Document, from_tier: int, page_count: int | None = None) -> None:
    """A new round of the route: tiers before `from_tier` stay as they are, the rest run again."""
    previous = list(
        RouteTier.objects.filter(pk__in=current_tier_ids(document), order__gte=from_tier)
        .order_by("order")
        .prefetch_related("assignments")
    )
    document.round += 1
    document.save(update_fields=["round"])
    seat_number = document.assignments.count()
    for old in previous:
        tier = RouteTier.objects.create(
            document=document, round=document.round, order=old.order, name=old.name, quorum=old.quorum
        )
        for assignment in old.assignments.all():
            seat_number += 1
            page = assignment.page
            if page_count is not None and page >= page_count:
                page = page_count - 1  # the revised file is shorter; keep the box on its last page
            Assignment.objects.create(
                tier=tier,
                document=document,
                signer_id=assignment.signer_id,
                field_name=f"Sig{seat_number}_r{document.round}",
                page=page,
                box=assignment.box,
            )
    audit.record(
        action="route.round_started", target=document, details={"round": document.round, "from_tier": from_tier}
    )
    _tier_open(document=document, round=document.round, order=from_tier)


@transaction.atomic(durable=True)
def route_resubmit(*, document: Document, actor: User, pdf: bytes, comment: str = "") -> Document:
    """The requester sends a revised file; the route restarts from its first tier on the new version."""
    document = _lock(document)
    if actor.pk != document.requester_id:
        raise NotFound("Only the requester can resubmit this document.")
    info = pdf_inspect(pdf)
    states.apply(states.DOCUMENT, document, "resubmit")
    version = _store_version(document=document, data=pdf, kind=DocumentVersion.Kind.REVISION)
    audit.record(
        actor=actor,
        action="document.resubmitted",
        target=document,
        details={"version": version.number, "sha256": version.sha256, "comment": (comment or "")[:500]},
    )
    first = document.tiers.order_by("order").values_list("order", flat=True).first()
    _round_start(document=document, from_tier=first or 1, page_count=len(info.pages))
    return document


@transaction.atomic(durable=True)
def route_recall(*, document: Document, actor: User, reason: str = "") -> Document:
    """The requester takes the document back before it is complete."""
    document = _lock(document)
    if actor.pk != document.requester_id:
        raise NotFound("Only the requester can recall this document.")
    states.apply(states.DOCUMENT, document, "recall")
    _route_close(document=document)
    audit.record(actor=actor, action="document.recalled", target=document, details={"reason": (reason or "")[:500]})
    for seat in _current_assignments(document).filter(tier__status=TierStatus.CLOSED).select_related("signer"):
        if seat.status == AssignmentStatus.CANCELLED and seat.tier.activated_at:
            _notify(user=seat.signer, document=document, kind="recalled", message=f"เอกสารถูกเรียกคืน: {document.title}")
    return document


def _require_admin(actor: User) -> None:
    if not (actor.is_superuser or actor.has_role("it_admin")):
        raise NotAllowed("Only an IT administrator can do this.")


@transaction.atomic(durable=True)
def route_cancel(*, document: Document, actor: User, reason: str) -> Document:
    """An administrator ends a route that is not complete, with a reason (audited)."""
    _require_admin(actor)
    reason = _required(reason, "A reason is required to cancel a document.")
    document = _lock(document)
    states.apply(states.DOCUMENT, document, "cancel")
    _route_close(document=document)
    audit.record(actor=actor, action="document.cancelled", target=document, details={"reason": reason[:500]})
    _notify(
        user=document.requester,
        document=document,
        kind="cancelled",
        message=f"เอกสารถูกยกเลิกโดยผู้ดูแลระบบ: {document.title} — {reason[:200]}",
    )
    return document


@transaction.atomic(durable=True)
def assignment_reassign(*, assignment: Assignment, new_signer: User, actor: User, reason: str) -> Assignment:
    """An administrator gives an undecided seat to someone else (e.g. the signer left), with a reason."""
    _require_admin(actor)
    reason = _required(reason, "A reason is required to reassign a seat.")
    document = _lock(assignment.document)
    if document.status not in (DocumentStatus.IN_PROGRESS, DocumentStatus.RETURNED):
        raise AlreadyDecided(f"The document is {document.get_status_display()}; its seats cannot change.")
    assignment = Assignment.objects.select_for_update().select_related("signer", "tier").get(pk=assignment.pk)
    if assignment.status != AssignmentStatus.PENDING:
        raise AlreadyDecided("Only an undecided seat can be reassigned.")
    if not new_signer.is_active:
        raise InvalidDocument(f"{new_signer.full_name_th} is not an active user.")
    taken = _current_assignments(document).filter(signer=new_signer)
    if taken.exists() and not document.template.allow_multiple_seats:
        raise InvalidDocument(f"{new_signer.full_name_th} already holds a seat in this route.")
    old = assignment.signer
    assignment.signer = new_signer
    assignment.save(update_fields=["signer"])
    audit.record(
        actor=actor,
        action="assignment.reassigned",
        target=document,
        details={"assignment": assignment.pk, "from": old.username, "to": new_signer.username, "reason": reason[:500]},
    )
    if assignment.tier.status == TierStatus.ACTIVE:
        _notify(user=new_signer, document=document, kind="assigned", message=f"เอกสารรอท่านลงนาม: {document.title}")
        _notify(user=old, document=document, kind="reassigned", message=f"ที่นั่งลงนามถูกโอนให้ผู้อื่น: {document.title}")
    return assignment


@transaction.atomic  # not durable: Django admin's add view already runs in a transaction
def delegation_create(*, delegator: User, delegate: User, starts_at, ends_at, kind: str, actor: User) -> Delegation:
    """ปฏิบัติราชการแทน / รักษาราชการแทน: `delegate` may decide for `delegator` from `starts_at` to `ends_at`."""
    if delegator.pk == delegate.pk:
        raise InvalidDocument("A person cannot delegate to themselves.")
    if ends_at <= starts_at:
        raise InvalidDocument("The delegation must end after it starts.")
    if kind not in Delegation.Kind.values:
        raise InvalidDocument(f"Unknown kind of delegation {kind!r}.")
    if actor.pk != delegator.pk:
        _require_admin(actor)
    delegation = Delegation.objects.create(
        delegator=delegator, delegate=delegate, starts_at=starts_at, ends_at=ends_at, kind=kind
    )
    audit.record(
        actor=actor,
        action="delegation.created",
        target=delegation,
        details={
            "delegator": delegator.username,
            "delegate": delegate.username,
            "from": starts_at,
            "until": ends_at,
            "kind": kind,
        },
    )
    return delegation


@transaction.atomic(durable=True)
def delegation_revoke(*, delegation: Delegation, actor: User) -> Delegation:
    if actor.pk != delegation.delegator_id:
        _require_admin(actor)
    updated = Delegation.objects.filter(pk=delegation.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if updated:
        audit.record(actor=actor, action="delegation.revoked", target=delegation)
    delegation.refresh_from_db()
    return delegation


def visible_documents_q(user: User) -> Q:
    """Documents a person may see: theirs, those they sign or signed, and those of people they stand in for."""
    q = Q(requester=user) | Q(assignments__signer=user) | Q(assignments__decided_by=user)
    delegators = delegators_for(user)
    if delegators:
        q |= Q(assignments__signer_id__in=delegators)
    return q


# --- reminders and escalation -------------------------------------------------------------------------


def _it_admins() -> list[User]:
    return list(
        User.objects.filter(Q(is_superuser=True) | Q(groups__name="it_admin"), is_active=True).distinct().order_by("id")
    )


def reminders_send(*, now=None) -> dict[str, int]:
    """Remind the undecided signers of tiers past half their due time, and tell IT admins of overdue ones.

    Each tier is reminded once and escalated once: the mark is claimed by a conditional UPDATE, so two
    runs of the schedule at the same time do not both send.
    """
    now = now or timezone.now()
    counts = {"reminded": 0, "escalated": 0}
    running = RouteTier.objects.filter(
        status=TierStatus.ACTIVE,
        document__status=DocumentStatus.IN_PROGRESS,
        activated_at__isnull=False,
        due_at__isnull=False,
    ).select_related("document")
    for tier in running.filter(reminded_at__isnull=True):
        if now < tier.activated_at + (tier.due_at - tier.activated_at) / 2:
            continue
        with transaction.atomic():
            if not RouteTier.objects.filter(pk=tier.pk, reminded_at__isnull=True).update(reminded_at=now):
                continue
            waiting = list(tier.assignments.filter(status=AssignmentStatus.PENDING).select_related("signer"))
            for seat in waiting:
                _notify(
                    user=seat.signer,
                    document=tier.document,
                    kind="reminder",
                    message=f"เตือน: เอกสารรอท่านลงนาม (ครบกำหนด {timezone.localtime(tier.due_at):%d/%m/%Y %H:%M}): "
                    f"{tier.document.title}",
                )
            audit.record(
                action="route.reminder_sent",
                target=tier.document,
                details={"round": tier.round, "tier": tier.order, "to": [s.signer.username for s in waiting]},
            )
        counts["reminded"] += 1
    admins = None
    for tier in running.filter(escalated_at__isnull=True, due_at__lte=now):
        with transaction.atomic():
            if not RouteTier.objects.filter(pk=tier.pk, escalated_at__isnull=True).update(escalated_at=now):
                continue
            admins = admins if admins is not None else _it_admins()
            waiting = list(
                tier.assignments.filter(status=AssignmentStatus.PENDING).values_list("signer__username", flat=True)
            )
            for admin in admins:
                _notify(
                    user=admin,
                    document=tier.document,
                    kind="escalation",
                    message=f"เกินกำหนด: {tier.document.title} — ขั้นที่ {tier.order} ยังรอ {', '.join(waiting)}",
                )
            audit.record(
                action="route.escalated",
                target=tier.document,
                details={
                    "round": tier.round,
                    "tier": tier.order,
                    "waiting": waiting,
                    "to": [a.username for a in admins],
                },
            )
        counts["escalated"] += 1
    return counts


# --- archive copy and timestamp renewal -----------------------------------------------------------------

ARCHIVE_RENEW_MARGIN = timedelta(days=90)


def signing_record(*, document: Document) -> dict:
    """What the archive copy carries about how the document was approved and signed."""
    assignments = list(
        Assignment.objects.filter(document=document)
        .select_related("tier", "signer", "decided_by")
        .order_by("tier__round", "tier__order", "id")
    )
    signed = sum(a.status == AssignmentStatus.SIGNED for a in assignments)
    return {
        "summary": f"{document.title} — {document.get_status_display()}, {signed} signature(s)",
        "document": {"id": document.pk, "title": document.title, "template": document.template.code},
        "requester": document.requester.username,
        "status": document.status,
        "completed_at": document.completed_at,
        "pades_level": document.pades_level,
        "decisions": [
            {
                "round": a.tier.round,
                "tier": a.tier.order,
                "signer": a.signer.username,
                "decided_by": a.decided_by.username if a.decided_by else None,
                "status": a.status,
                "decided_at": a.decided_at,
                "signed_at": a.signed_at,
                "field": a.field_name,
                "comment": a.comment,
            }
            for a in assignments
        ],
        "versions": [
            {"number": v.number, "kind": v.kind, "sha256": v.sha256, "created_at": v.created_at}
            for v in document.versions.order_by("number")
        ],
    }


def _archive_bytes(*, pdf: bytes, record: dict) -> bytes:
    from signing.archive import archive_copy_make as pdfa3_copy

    # Plain JSON types only (dates as ISO text), for both the JSON and the XML form of the record.
    return pdfa3_copy(pdf=pdf, record=json.loads(json.dumps(record, default=str)))


def _latest_signed_version(document: Document) -> DocumentVersion:
    return document.versions.exclude(kind=DocumentVersion.Kind.ARCHIVE).order_by("-number").first()


def archive_copy_make(*, document_id: int) -> DocumentVersion | None:
    """Store the archive copy of a completed document's latest version (idempotent)."""
    from .signing_handler import version_read

    document = Document.objects.select_related("template", "requester").get(pk=document_id)
    if document.status != DocumentStatus.COMPLETED:
        return None
    source = _latest_signed_version(document)
    existing = document.versions.filter(kind=DocumentVersion.Kind.ARCHIVE, number__gt=source.number).first()
    if existing is not None:
        return existing
    data = _archive_bytes(pdf=version_read(source), record=signing_record(document=document))
    with transaction.atomic():
        document = _lock(document)
        if _latest_signed_version(document).pk != source.pk:
            return None  # a newer version arrived meanwhile (timestamp renewal); the next run archives it
        existing = document.versions.filter(kind=DocumentVersion.Kind.ARCHIVE, number__gt=source.number).first()
        if existing is not None:
            return existing
        version = _store_version(document=document, data=data, kind=DocumentVersion.Kind.ARCHIVE)
        audit.record(
            action="document.archived",
            target=document,
            details={"version": version.number, "source_version": source.number, "sha256": version.sha256},
        )
    return version


def _lta_renewal_needed(pdf: bytes) -> bool:
    from signing.archive import lta_renewal_needed

    return lta_renewal_needed(pdf=pdf, horizon_days=ARCHIVE_RENEW_MARGIN.days)


def archive_timestamp_renew(*, document_id: int) -> bool:
    """Queue a new document timestamp over a completed B-LTA document whose last one nears expiry."""
    from signing.models import JobStatus, SigningJob

    from .signing_handler import version_read

    document = Document.objects.get(pk=document_id)
    if document.status != DocumentStatus.COMPLETED or document.pades_level != PadesLevel.B_LTA:
        return False
    if not _lta_renewal_needed(version_read(_latest_signed_version(document))):
        return False
    with transaction.atomic():
        document = _lock(document)
        jobs = SigningJob.objects.filter(
            handler=SIGNING_HANDLER, subject_id=document.pk, field_name__startswith="DocTS_renew"
        )
        if jobs.exclude(status__in=[JobStatus.DONE, JobStatus.FAILED]).exists():
            return False
        job = signing_services.signing_job_create(
            handler=SIGNING_HANDLER,
            subject_id=document.pk,
            field_name=f"DocTS_renew{jobs.count() + 1}",
            level=PadesLevel.B_LTA,
            kind=JobKind.DOCUMENT_TIMESTAMP,
        )
        audit.record(action="document.timestamp_renewal", target=document, details={"job": job.pk})
    return True


def decision_approve_batch(
    *, documents: list[Document], actor: User, comment: str, batch, activation: str = ""
) -> list[dict]:
    """Approve several documents after one MFA step-up (done by the caller), each in its own transaction.

    One refusal does not undo the others: returns [{"document": id, "detail": why}] for those refused.
    Every queued signature is attached to `batch` (a signing.models.SigningBatch) for progress reports.
    """
    from signing.models import SigningJob

    errors: list[dict] = []
    queued = 0
    for document in documents:
        try:
            seat = decision_approve(
                document=document, actor=actor, comment=comment, step_up_verified=True, activation=activation
            )
        except WorkflowError as exc:
            errors.append({"document": document.pk, "detail": exc.message})
            continue
        SigningJob.objects.filter(pk=seat.signing_job_id).update(batch=batch)
        queued += 1
    type(batch).objects.filter(pk=batch.pk).update(total=queued)
    batch.total = queued
    audit.record(
        actor=actor,
        action="batch.approved",
        target=batch,
        details={"approved": queued, "refused": [e["document"] for e in errors]},
    )
    return errors
