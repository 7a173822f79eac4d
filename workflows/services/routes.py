"""Routes: starting one, opening and completing tiers, new rounds, recall, cancel and reassignment.

Each service is one transaction that also writes its audit event. Tier advance runs with the document
row locked (`document_lock`), so a tier advances exactly once however many approvals race.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

import audit
from accounts.models import User
from core import storage
from signing import services as signing_services
from signing.models import JobKind, PadesLevel

from .. import states
from ..errors import AlreadyDecided, InvalidDocument, NotAllowed, NotFound, TransitionNotAllowed
from ..models import (
    Assignment,
    AssignmentStatus,
    Confidentiality,
    Document,
    DocumentStatus,
    DocumentVersion,
    RouteTier,
    TierStatus,
    Urgency,
    WorkflowTemplate,
)
from ..selectors import SIGNING_HANDLER, current_assignments, current_tier_ids
from .access import document_access_start, document_access_sync
from .common import admin_required, document_lock, notify, text_required, webhook_on_commit
from .documents import PdfInfo, final_file_valid, pdf_clean, pdf_inspect, version_store
from .verification_link import verification_stamp

logger = logging.getLogger(__name__)

SLOT_WIDTH, SLOT_HEIGHT, SLOT_GAP, SLOT_MARGIN = 170.0, 62.0, 8.0, 36.0


def resolve_signers(*, tier, requester: User) -> list[User]:
    """The requester when the tier is the originator's (ลงชื่อผู้เสนอ), explicit users of a template tier, plus
    those holding `rule_position` in the unit the rule names."""
    users = [requester] if tier.requester_signs else []
    users.extend(u for u in tier.signers.filter(is_active=True).order_by("id") if u not in users)
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
        raise InvalidDocument(gettext("A signature box needs a page and four numbers [x1, y1, x2, y2].")) from exc
    if not 0 <= page < len(info.pages) or len(box) != 4:
        raise InvalidDocument(
            gettext("Signature box page %(page)d does not exist in the document.") % {"page": page + 1}
        )
    width, height = info.pages[page]
    x1, y1, x2, y2 = box
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height) or (x2 - x1) < 20 or (y2 - y1) < 10:
        raise InvalidDocument(gettext("A signature box lies outside its page or is too small."))
    return page, box


def _saved_position(*, template: WorkflowTemplate, seat_index: int, info: PdfInfo) -> tuple[int, list[float]] | None:
    """The template's saved box for this seat, when it has one that fits this file (else the automatic one)."""
    positions = template.box_positions if isinstance(template.box_positions, list) else []
    if seat_index >= len(positions) or not isinstance(positions[seat_index], dict):
        return None
    try:
        return _check_placement(positions[seat_index], info)
    except InvalidDocument:
        return None


@transaction.atomic(durable=True)
def route_start(
    *,
    title: str,
    pdf: bytes,
    template: WorkflowTemplate,
    actor: User,
    placements: dict[str, dict] | None = None,
    urgency: str = "",
    confidentiality: str = "",
) -> Document:
    """Create a document, its first version and its route; the first tier opens at once.

    `placements` maps a signer's username to {"page": n, "box": [x1, y1, x2, y2]} to move a box.
    """
    return route_create(
        title=title,
        pdf=pdf,
        template=template,
        actor=actor,
        placements=placements,
        urgency=urgency,
        confidentiality=confidentiality,
    )


def route_seats(*, template: WorkflowTemplate, actor: User) -> list[tuple]:
    """(template tier, signers, quorum) of each tier the route would open, refused when one cannot."""
    template_tiers = list(template.tiers.order_by("order"))
    if not template_tiers:
        raise InvalidDocument(gettext("The workflow template %(code)s has no tiers.") % {"code": template.code})
    seats: list[tuple] = []
    for tier in template_tiers:
        signers = resolve_signers(tier=tier, requester=actor)
        quorum = tier.quorum or len(signers)
        if len(signers) < max(quorum, 1):
            raise InvalidDocument(
                gettext("Tier %(order)d (%(name)s) has %(count)d signers but needs %(quorum)d.")
                % {"order": tier.order, "name": tier.name, "count": len(signers), "quorum": quorum}
            )
        seats.append((tier, signers, quorum))
    if not template.allow_multiple_seats:
        seen: set[int] = set()
        for _, signers, _ in seats:
            for user in signers:
                if user.pk in seen:
                    raise InvalidDocument(
                        gettext("%(name)s would hold two seats in this route.") % {"name": user.full_name_th}
                    )
                seen.add(user.pk)
    return seats


@transaction.atomic(durable=True)
def template_positions_save(*, template: WorkflowTemplate, actor: User, placements: dict[str, dict]) -> list[dict]:
    """Save the boxes placed on an uploaded form with the workflow template, one per seat in route order, so
    the next upload of that form starts from them. IT administrators only: every requester's boxes move."""
    admin_required(actor)
    seats = [user.username for _, signers, _ in route_seats(template=template, actor=actor) for user in signers]
    positions = []
    for username in seats:
        placement = placements.get(username)
        try:
            page = int(placement["page"])
            box = [round(float(v), 1) for v in placement["box"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidDocument(gettext("Place a box for every seat before saving the positions.")) from exc
        if page < 0 or len(box) != 4 or not (box[0] < box[2] and box[1] < box[3]):
            raise InvalidDocument(gettext("A signature box lies outside its page or is too small."))
        positions.append({"page": page, "box": box})
    template = WorkflowTemplate.objects.select_for_update().get(pk=template.pk)
    template.box_positions = positions
    template.save(update_fields=["box_positions"])
    audit.record(actor=actor, action="template.positions_saved", target=template, details={"seats": len(positions)})
    return positions


def route_create(
    *,
    title: str,
    pdf: bytes,
    template: WorkflowTemplate,
    actor: User,
    placements: dict[str, dict] | None = None,
    reference_no: str = "",
    urgency: str = "",
    confidentiality: str = "",
) -> Document:
    """`route_start` inside the caller's transaction (a memo takes its register number in the same one)."""
    if urgency not in ("", *Urgency.values):
        raise InvalidDocument(gettext("Unknown urgency %(value)s.") % {"value": urgency})
    if confidentiality not in ("", *Confidentiality.values):
        raise InvalidDocument(gettext("Unknown confidentiality %(value)s.") % {"value": confidentiality})
    title = (title or "").strip()
    if not title:
        raise InvalidDocument(gettext("A title is required."))
    if not template.active:
        raise InvalidDocument(gettext("The workflow template %(code)s is not active.") % {"code": template.code})
    pdf_inspect(pdf)  # what is wrong with an unusable upload, in its words
    pdf, cleaned = pdf_clean(pdf)
    info = pdf_inspect(pdf)
    seats = route_seats(template=template, actor=actor)
    template_tiers = [tier for tier, _, _ in seats]
    document = Document.objects.create(
        title=title[:300],
        requester=actor,
        template=template,
        status=states.DOCUMENT_INITIAL,
        pades_level=template.pades_level,
        reference_no=reference_no[:100],
        urgency=urgency,
        confidentiality=confidentiality,
    )
    # before any signature, so the signatures cover the QR code and link to the public page
    pdf = verification_stamp(document=document, pdf=pdf)
    version_store(document=document, data=pdf, kind=DocumentVersion.Kind.ORIGINAL)
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
            elif saved := _saved_position(template=template, seat_index=seat_number - 1, info=info):
                page, slot = saved
            Assignment.objects.create(
                tier=route_tier,
                document=document,
                signer=user,
                field_name=f"Sig{seat_number}_r1",
                page=page,
                box=slot,
            )
    document_access_start(document=document)
    audit.record(
        actor=actor,
        action="document.created",
        target=document,
        details={
            "template": template.code,
            "sha256": document.versions.get().sha256,
            "pages": len(info.pages),
            "removed_from_upload": cleaned,
            "reference_no": document.reference_no,
            "urgency": document.urgency,
            "confidentiality": document.confidentiality,
        },
    )
    tier_open(document=document, round=1, order=template_tiers[0].order)
    return document


def tier_open(*, document: Document, round: int, order: int) -> RouteTier:
    tier = RouteTier.objects.select_for_update().get(document=document, round=round, order=order)
    hours = document.template.tiers.filter(order=order).values_list("due_hours", flat=True).first() or 72
    now = timezone.now()
    states.apply(states.TIER, tier, "activate", activated_at=now, due_at=now + timedelta(hours=hours))
    tier.assignments.update(waiting_since=now)
    audit.record(action="route.tier_opened", target=document, details={"round": round, "tier": order})
    for assignment in tier.assignments.select_related("signer"):
        notify(
            user=assignment.signer, document=document, kind="assigned", message=f"เอกสารรอท่านลงนาม: {document.title}"
        )
    return tier


def tier_maybe_advance(*, document: Document, tier: RouteTier) -> None:
    """Complete the tier when its quorum of signatures is in the file (approvals alone never count).

    Called by the signing handler in the transaction that stores a signature, with the document locked.
    """
    tier = RouteTier.objects.select_for_update().get(pk=tier.pk)
    signatures = tier.assignments.filter(status=AssignmentStatus.SIGNED).count()
    if tier.status != TierStatus.ACTIVE or signatures < tier.quorum:
        return
    now = timezone.now()
    skipped = states.apply_bulk(states.ASSIGNMENT, tier.assignments.all(), "skip", decided_at=now)
    states.apply(states.TIER, tier, "complete", completed_at=now)
    audit.record(
        action="route.tier_completed",
        target=document,
        details={"round": tier.round, "tier": tier.order, "not_needed": skipped},
    )
    webhook_on_commit(document, "tier.completed", {"tier": tier.order})
    following = document.tiers.filter(round=tier.round, order__gt=tier.order, status=TierStatus.PENDING)
    nxt = following.order_by("order").first()
    if nxt is not None:
        tier_open(document=document, round=tier.round, order=nxt.order)
    else:
        route_maybe_complete(document=document)


def route_maybe_complete(*, document: Document, finishing_job_id: int | None = None) -> None:
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
    if not final_file_valid(document=document):
        return
    now = timezone.now()
    states.apply(states.DOCUMENT, document, "complete", completed_at=now, waiting_reason="")
    audit.record(action="document.completed", target=document, details={"round": document.round})
    notify(
        user=document.requester, document=document, kind="completed", message=f"เอกสารลงนามครบถ้วนแล้ว: {document.title}"
    )
    webhook_on_commit(document, "document.completed", {})
    document_id = document.pk
    transaction.on_commit(lambda: _archive_enqueue(document_id))


def _archive_enqueue(document_id: int) -> None:
    try:
        from django_q.tasks import async_task

        async_task("workflows.tasks.make_archive_copy", document_id)
    except Exception:  # the archive copy is best effort here; make_archive_copy can be run again by an admin
        logger.exception("could not enqueue the archive copy of document %s", document_id)


def route_close(*, document: Document) -> None:
    """The route stops: undecided seats are cancelled, so are approvals whose signature is not in the file
    yet (their jobs then refuse to sign); unfinished tiers close. Signed and refused seats stay as they are."""
    current = current_assignments(document)
    states.apply_bulk(states.ASSIGNMENT, current, "cancel", decided_at=timezone.now())
    states.apply_bulk(states.TIER, document.tiers.filter(round=document.round), "close")


def round_start(*, document: Document, from_tier: int, page_count: int | None = None) -> None:
    """A new round of the route: tiers before `from_tier` stay as they are, the rest run again.

    `page_count` is given for a revised file (a new version without signatures): its seats get new
    signature fields. On the same file, each seat signs in the field its seat had: the file's first
    signature created every seat's field and certified the file, which allows no new field
    (signing.pades). Signatures of `from_tier` and later tiers already in the file would fill those
    fields, so the round restarts on the version before the first of them (stored again as the current
    version): the tiers before `from_tier` keep their signatures, the others sign again.
    """
    previous = list(
        RouteTier.objects.filter(pk__in=current_tier_ids(document), order__gte=from_tier)
        .order_by("order")
        .prefetch_related("assignments")
    )
    restarted_from, dropped_jobs = (
        _restart_version(document=document, from_tier=from_tier) if page_count is None else (None, [])
    )
    document.round += 1
    document.save(update_fields=["round"])
    if restarted_from is not None:
        from signing.models import SigningJob

        # their signatures are not in the file the round restarts on: their fields may be signed again
        SigningJob.objects.filter(pk__in=dropped_jobs).update(superseded_at=timezone.now())
        version_store(
            document=document,
            data=storage.read_verified(
                storage=restarted_from.file.storage, name=restarted_from.file.name, sha256=restarted_from.sha256
            ),
            kind=DocumentVersion.Kind.REVISION,
        )
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
                field_name=f"Sig{seat_number}_r{document.round}" if page_count is not None else assignment.field_name,
                page=page,
                box=assignment.box,
            )
    audit.record(
        action="route.round_started",
        target=document,
        details={
            "round": document.round,
            "from_tier": from_tier,
            "restarted_from_version": restarted_from.number if restarted_from is not None else None,
        },
    )
    tier_open(document=document, round=document.round, order=from_tier)


def _restart_version(*, document: Document, from_tier: int) -> tuple[DocumentVersion | None, list[int]]:
    """The newest version holding no signature of a seat in `from_tier` or later (None: the current one), and
    the signing jobs whose signatures the versions after it added."""
    versions = list(document.versions.exclude(kind=DocumentVersion.Kind.ARCHIVE).order_by("-number"))
    job_tiers = dict(
        Assignment.objects.filter(
            document=document, signing_job_id__in=[v.signing_job_id for v in versions if v.signing_job_id]
        ).values_list("signing_job_id", "tier__order")
    )
    dropped: list[int] = []
    for version in versions:
        later_tier = job_tiers.get(version.signing_job_id, from_tier) >= from_tier
        if version.kind == DocumentVersion.Kind.SIGNED and later_tier:
            dropped.append(version.signing_job_id)
            continue
        return (version if dropped else None), dropped
    return None, []


@transaction.atomic(durable=True)
def route_resubmit(*, document: Document, actor: User, pdf: bytes | None = None, comment: str = "") -> Document:
    """The requester sends the returned document again, revised or as it is; the route runs again.

    A revised file is a new version that carries none of the earlier signatures, so every tier is asked
    again from the first. Without a new file the version the signers saw stays, and the route restarts at
    the tier that returned it (the tiers before it keep their signatures). Earlier versions, decisions and
    rounds stay in the history.
    """
    document = document_lock(document)
    if actor.pk != document.requester_id:
        raise NotAllowed(gettext("Only the requester can resubmit this document."))
    if document.status != DocumentStatus.RETURNED:
        raise TransitionNotAllowed(gettext("Only a document returned for revision can be sent again."))
    cleaned = None
    info = None
    if pdf:
        pdf_inspect(pdf)  # what is wrong with an unusable upload, in its words
        pdf, cleaned = pdf_clean(pdf)
        info = pdf_inspect(pdf)
        pdf = verification_stamp(document=document, pdf=pdf)
    returned_from = (
        current_assignments(document)
        .filter(status=AssignmentStatus.RETURNED)
        .order_by("-tier__order")
        .values_list("tier__order", flat=True)
        .first()
    )
    states.apply(states.DOCUMENT, document, "resubmit", waiting_reason="")
    version = version_store(document=document, data=pdf, kind=DocumentVersion.Kind.REVISION) if pdf else None
    first = document.tiers.order_by("order").values_list("order", flat=True).first() or 1
    from_tier = first if version is not None or returned_from is None else returned_from
    latest = version or document.versions.exclude(kind=DocumentVersion.Kind.ARCHIVE).order_by("-number").first()
    audit.record(
        actor=actor,
        action="document.resubmitted",
        target=document,
        details={
            "version": latest.number,
            "sha256": latest.sha256,
            "revised": version is not None,
            "from_tier": from_tier,
            "comment": (comment or "")[:500],
            "removed_from_upload": cleaned,
            "reference_no": document.reference_no,
            "urgency": document.urgency,
            "confidentiality": document.confidentiality,
        },
    )
    round_start(document=document, from_tier=from_tier, page_count=len(info.pages) if info else None)
    return document


@transaction.atomic(durable=True)
def route_recall(*, document: Document, actor: User, reason: str = "") -> Document:
    """The requester takes the document back before it is complete."""
    document = document_lock(document)
    if actor.pk != document.requester_id:
        raise NotFound(gettext("Only the requester can recall this document."))
    states.apply(states.DOCUMENT, document, "recall")
    route_close(document=document)
    audit.record(actor=actor, action="document.recalled", target=document, details={"reason": (reason or "")[:500]})
    for seat in current_assignments(document).filter(tier__status=TierStatus.CLOSED).select_related("signer"):
        if seat.status == AssignmentStatus.CANCELLED and seat.tier.activated_at:
            notify(user=seat.signer, document=document, kind="recalled", message=f"เอกสารถูกเรียกคืน: {document.title}")
    return document


@transaction.atomic(durable=True)
def route_cancel(*, document: Document, actor: User, reason: str) -> Document:
    """An administrator ends a route that is not complete, with a reason (audited)."""
    admin_required(actor)
    reason = text_required(reason, gettext("A reason is required to cancel a document."))
    document = document_lock(document)
    states.apply(states.DOCUMENT, document, "cancel")
    route_close(document=document)
    audit.record(actor=actor, action="document.cancelled", target=document, details={"reason": reason[:500]})
    notify(
        user=document.requester,
        document=document,
        kind="cancelled",
        message=f"เอกสารถูกยกเลิกโดยผู้ดูแลระบบ: {document.title} — {reason[:200]}",
    )
    return document


def _seat_holder_check(*, document: Document, person: User, actor: User, change: str) -> None:
    """Separation of duties for a seat that changes hands: never the requester (they would approve their
    own document), never the administrator making the change, and nobody already seated in the route
    unless the template allows one person several seats."""
    if person.pk == document.requester_id:
        raise NotAllowed(f"A seat cannot be {change} to the requester of the document ({person.full_name_th}).")
    if person.pk == actor.pk:
        raise NotAllowed(f"An administrator cannot give a seat to themselves ({change} by {actor.username}).")
    taken = current_assignments(document).filter(signer=person)
    if taken.exists() and not document.template.allow_multiple_seats:
        raise InvalidDocument(f"{person.full_name_th} already holds a seat in this route.")


@transaction.atomic(durable=True)
def assignment_reassign(*, assignment: Assignment, new_signer: User, actor: User, reason: str) -> Assignment:
    """An administrator gives an undecided seat to someone else (e.g. the signer left), with a reason."""
    admin_required(actor)
    reason = text_required(reason, gettext("A reason is required to reassign a seat."))
    document = document_lock(assignment.document)
    if document.status not in (DocumentStatus.IN_PROGRESS, DocumentStatus.RETURNED):
        raise AlreadyDecided(gettext("The document has ended; its seats cannot change."))
    assignment = Assignment.objects.select_for_update().select_related("signer", "tier").get(pk=assignment.pk)
    if assignment.status != AssignmentStatus.PENDING:
        raise AlreadyDecided(gettext("Only an undecided seat can be reassigned."))
    if not new_signer.is_active:
        raise InvalidDocument(f"{new_signer.full_name_th} is not an active user.")
    _seat_holder_check(document=document, person=new_signer, actor=actor, change="reassigned")
    old = assignment.signer
    assignment.signer = new_signer
    assignment.save(update_fields=["signer"])
    document_access_sync(document=document)  # the old holder no longer sees it, unless they take part otherwise
    audit.record(
        actor=actor,
        action="assignment.reassigned",
        target=document,
        details={"assignment": assignment.pk, "from": old.username, "to": new_signer.username, "reason": reason[:500]},
    )
    if assignment.tier.status == TierStatus.ACTIVE:
        notify(user=new_signer, document=document, kind="assigned", message=f"เอกสารรอท่านลงนาม: {document.title}")
        notify(user=old, document=document, kind="reassigned", message=f"ที่นั่งลงนามถูกโอนให้ผู้อื่น: {document.title}")
    return assignment
