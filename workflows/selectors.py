"""Reads of documents, routes, inboxes and timelines (a fixed number of queries, whatever the row count)."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core import keyset
from core.roles import AUDIT_READERS, has_role

from .errors import AlreadyDecided, NotAllowed, NotFound, NotYourTurn, WorkflowError
from .models import (
    Assignment,
    AssignmentStatus,
    Delegation,
    Document,
    DocumentAccess,
    DocumentStatus,
    DocumentVersion,
    RouteTier,
    TierStatus,
)

# The signing handler name jobs of this app carry (signing.models.SigningJob.handler).
SIGNING_HANDLER = "workflows.signing_handler"

TIMELINE_HIDDEN = ("document.downloaded",)


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


def current_assignments(document: Document):
    return Assignment.objects.filter(tier_id__in=current_tier_ids(document))


def active_tier(document: Document) -> RouteTier | None:
    return document.tiers.filter(round=document.round, status=TierStatus.ACTIVE).first()


def delegations_active(*, delegate: User, at=None):
    at = at or timezone.now()
    return Delegation.objects.filter(delegate=delegate, starts_at__lte=at, ends_at__gt=at, revoked_at__isnull=True)


def delegators_for(user: User, at=None) -> list[int]:
    return list(delegations_active(delegate=user, at=at).values_list("delegator_id", flat=True))


def seat_for(*, document: Document, actor: User) -> tuple[Assignment, Delegation | None]:
    """The actor's own pending seat in the active tier, or one they hold by delegation; else why not."""
    if document.status != DocumentStatus.IN_PROGRESS:
        raise AlreadyDecided(
            _("The document is %(status)s; no more decisions are taken.") % {"status": document.get_status_display()}
        )
    tier = active_tier(document)
    current = current_assignments(document)
    if tier is not None:
        own = tier.assignments.filter(signer=actor).first()
        if own is not None and own.status == AssignmentStatus.PENDING:
            return own, None
        delegations = delegations_active(delegate=actor).order_by("-starts_at")
        if own is None and delegations:
            by_delegator = {}
            for delegation in delegations:
                by_delegator.setdefault(delegation.delegator_id, delegation)
            held = tier.assignments.filter(signer_id__in=by_delegator, status=AssignmentStatus.PENDING).first()
            if held is not None:
                # A requester never approves their own document, not even for someone else.
                if document.requester_id == actor.pk:
                    raise NotAllowed(_("You requested this document, so you cannot sign it for someone else."))
                # Acting for someone must not give a person a second seat in the route.
                if not document.template.allow_multiple_seats and current.filter(signer=actor).exists():
                    raise NotYourTurn(_("You hold your own seat in this route, so you cannot also sign for someone."))
                return held, by_delegator[held.signer_id]
        if own is not None:
            if own.status == AssignmentStatus.NOT_NEEDED:
                raise AlreadyDecided(_("This tier already has the approvals it needs; your signature is not needed."))
            raise AlreadyDecided(_("You have already decided on this document."))
    mine = current.filter(signer=actor).select_related("tier").order_by("-tier__round").first()
    if mine is None:
        raise NotFound(_("You are not a signer of this document."))
    if mine.tier.status == TierStatus.PENDING:
        raise NotYourTurn(_("It is not your turn yet: an earlier tier has not finished."))
    if mine.status == AssignmentStatus.NOT_NEEDED or mine.tier.status != TierStatus.ACTIVE:
        raise AlreadyDecided(_("This tier has closed; your decision is no longer needed."))
    raise AlreadyDecided(_("You have already decided on this document."))


def visible_documents_q(user: User) -> Q:
    """Documents a person may see: theirs, those they sign or signed, and those of people they stand in for."""
    q = Q(requester=user) | Q(assignments__signer=user) | Q(assignments__decided_by=user)
    delegators = delegators_for(user)
    if delegators:
        q |= Q(assignments__signer_id__in=delegators)
    return q


def can_see_all(user: User) -> bool:
    return has_role(user, *AUDIT_READERS)


def documents_visible_to(user: User) -> QuerySet[Document]:
    """What `visible_documents_q` describes, read from `DocumentAccess` (one index probe per document).
    Auditors and IT admins see every document except classified ones (ลับ, ลับมาก, ลับที่สุด), which only the
    route's participants see."""
    qs = Document.objects.all()
    sees_all, delegators = list_viewer(user)
    participant = DocumentAccess.objects.filter(_access_q(user, delegators)).values("document_id")
    if sees_all:
        return qs.filter(Q(confidentiality="") | Q(pk__in=participant))
    return qs.filter(pk__in=participant)


def _access_q(user: User, delegators: list[int]) -> Q:
    """Access rows that let `user` see a document: their own, and the seats of the people they act for."""
    q = Q(user=user)
    if delegators:
        q |= Q(user_id__in=delegators, seat=True)
    return q


def _tiers_prefetch() -> Prefetch:
    tiers = RouteTier.objects.order_by("round", "order").prefetch_related(
        Prefetch("assignments", queryset=Assignment.objects.select_related("signer", "decided_by").order_by("id"))
    )
    return Prefetch("tiers", queryset=tiers)


def document_detail(*, user: User, document_id: int) -> Document | None:
    return (
        documents_visible_to(user)
        .select_related("requester", "template")
        .prefetch_related(_tiers_prefetch())
        .filter(pk=document_id)
        .first()
    )


def with_routes(documents: list[Document]) -> list[Document]:
    """The documents with their tiers and seats prefetched (two queries for the whole page)."""
    prefetch_related_objects(documents, _tiers_prefetch())
    return documents


def current_tiers(document: Document) -> list[RouteTier]:
    """The tiers of the running round: per order, the newest round's tier (see current_tier_ids).

    Works on prefetched tiers, so listing documents costs no query per document.
    """
    newest: dict[int, RouteTier] = {}
    for tier in document.tiers.all():
        if tier.round <= document.round and (tier.order not in newest or tier.round > newest[tier.order].round):
            newest[tier.order] = tier
    return [newest[order] for order in sorted(newest)]


def latest_version(document: Document) -> DocumentVersion:
    return document.versions.exclude(kind=DocumentVersion.Kind.ARCHIVE).order_by("-number").first()


def signing_items(documents: list[Document]) -> list[dict]:
    """What a signer confirms: each document's current version (its SHA-256 and size), for activation."""
    items = []
    for document in documents:
        version = latest_version(document)
        if version is not None:
            items.append({"subject": document.pk, "sha256": version.sha256, "size": version.size})
    return items


def archive_version(document: Document) -> DocumentVersion | None:
    """The newest PDF/A-3 archive copy, or None before the document was archived."""
    return document.versions.filter(kind=DocumentVersion.Kind.ARCHIVE).order_by("-number").first()


def latest_version_sha256s(document_ids: list[int]) -> dict[int, str]:
    """Document id -> SHA-256 of its current version, in one query (the inbox sends them back)."""
    found: dict[int, tuple[int, str]] = {}
    rows = (
        DocumentVersion.objects.filter(document_id__in=document_ids)
        .exclude(kind=DocumentVersion.Kind.ARCHIVE)
        .values_list("document_id", "number", "sha256")
    )
    for document_id, number, sha256 in rows:
        if document_id not in found or number > found[document_id][0]:
            found[document_id] = (number, sha256)
    return {document_id: sha256 for document_id, (_, sha256) in found.items()}


def versions(document: Document) -> QuerySet[DocumentVersion]:
    """Every version, oldest first: the original, revisions, each signature, timestamps, archive copies."""
    return document.versions.order_by("number")


def inbox(user: User) -> QuerySet[Assignment]:
    """Seats waiting for the person's decision (their own; delegated seats are in `inbox_delegated`)."""
    # A pending seat with `waiting_since` is in an open tier of a running document (a tier or route that
    # ends moves its pending seats on), so the index (signer, status, waiting_since, id) answers alone.
    return (
        Assignment.objects.filter(signer=user, status=AssignmentStatus.PENDING, waiting_since__isnull=False)
        .select_related("document", "document__requester", "document__template", "tier")
        .order_by("waiting_since", "id")
    )


# The inbox heading counts up to WAITING_SHOWN seats ("more than …" beyond: an exact count of a large
# inbox costs more than its page); the "acting for others" box shows the first DELEGATED_SHOWN.
WAITING_SHOWN = 99
DELEGATED_SHOWN = 50


def inbox_waiting(user: User) -> int:
    """How many seats wait for the person, counted up to WAITING_SHOWN + 1 (from the inbox index only)."""
    return inbox(user).order_by().values("pk")[: WAITING_SHOWN + 1].count()


def inbox_delegated(user: User) -> QuerySet[Assignment]:
    """Seats of people the user currently acts for."""
    return (
        Assignment.objects.filter(
            signer_id__in=delegators_for(user), status=AssignmentStatus.PENDING, waiting_since__isnull=False
        )
        .select_related("document", "document__requester", "document__template", "tier", "signer")
        .order_by("waiting_since", "id")
    )


def waiting_for(document: Document) -> dict | None:
    """Whom the document waits for now: undecided signers of the active tier, signatures being made."""
    if document.status == DocumentStatus.RETURNED:
        return {"requester": document.requester.username, "reason": "returned for revision", "signers": []}
    if document.status != DocumentStatus.IN_PROGRESS:
        return None
    tiers = current_tiers(document)
    active = next((t for t in tiers if t.status == TierStatus.ACTIVE), None)
    seats = [a for t in tiers for a in t.assignments.all()]
    approvals = signatures = 0
    if active is not None:
        approvals = sum(
            a.status in (AssignmentStatus.APPROVED, AssignmentStatus.SIGNED) for a in active.assignments.all()
        )
        signatures = sum(a.status == AssignmentStatus.SIGNED for a in active.assignments.all())
    # With its quorum of approvals taken, the tier waits for their signatures, not for more people.
    room = active is not None and approvals < active.quorum
    return {
        "tier": active.order if active else None,
        "tier_name": active.name if active else None,
        "quorum": active.quorum if active else None,
        "approvals": approvals,
        "signatures": signatures,
        "due_at": active.due_at if active else None,
        "signers": [
            {"username": a.signer.username, "name": a.signer.full_name_th}
            for a in (active.assignments.all() if room else [])
            if a.status == AssignmentStatus.PENDING
        ],
        "signatures_in_progress": [a.field_name for a in seats if a.status == AssignmentStatus.APPROVED],
        "reason": document.waiting_reason,
    }


def timeline(document: Document) -> list[dict]:
    """What happened to the document, oldest first, then (while it runs) whom it waits for.

    Built from the audit log: the document's own events and the signing events of its jobs, each
    signature named with the seat it fills.
    """
    from audit.models import Event
    from signing.models import SigningJob

    jobs = {
        str(pk): field
        for pk, field in SigningJob.objects.filter(handler=SIGNING_HANDLER, subject_id=document.pk).values_list(
            "pk", "field_name"
        )
    }
    assignments = list(Assignment.objects.filter(document=document).select_related("signer", "decided_by"))
    seats = {a.field_name: a for a in assignments}
    # a round on the same file reuses its seats' fields: the job tells which seat a signing event was for
    seats_by_job = {str(a.signing_job_id): a for a in assignments if a.signing_job_id}
    # Downloads are in the audit log; the route's timeline is about decisions and signatures.
    own = Event.objects.filter(target_type="workflows.document", target_id=str(document.pk)).exclude(
        action__in=TIMELINE_HIDDEN
    )
    signing = Event.objects.filter(target_type="signing.signingjob", target_id__in=list(jobs))
    entries = []
    for event in (own | signing).order_by("id"):
        details = dict(event.details)
        if event.target_type == "signing.signingjob":
            seat = seats_by_job.get(event.target_id) or seats.get(details.get("field") or jobs.get(event.target_id))
            if seat is not None:
                details["signer"] = seat.signer.username
                details["signed_by"] = seat.decided_by.username if seat.decided_by else None
        entries.append(
            {
                "at": event.created_at,
                "action": event.action,
                "actor": event.actor_repr or None,
                "outcome": event.outcome,
                "details": details,
            }
        )
    if document.status in (DocumentStatus.IN_PROGRESS, DocumentStatus.RETURNED):
        detailed = document_detail_for_tracking(document)
        entries.append(
            {
                "at": timezone.now(),
                "action": "waiting",
                "actor": None,
                "outcome": "pending",
                "details": waiting_for(detailed) or {},
            }
        )
    return entries


def document_detail_for_tracking(document: Document) -> Document:
    """The document with its tiers prefetched, whoever asks (the caller has checked visibility)."""
    return (
        Document.objects.select_related("requester", "template").prefetch_related(_tiers_prefetch()).get(pk=document.pk)
    )


def returned_by(document: Document) -> Assignment | None:
    """The seat that sent the document back for revision in the running round (who, which tier, why)."""
    newest = document.round
    return (
        Assignment.objects.filter(document=document, tier__round=newest, status=AssignmentStatus.RETURNED)
        .select_related("signer", "decided_by", "tier")
        .order_by("-decided_at")
        .first()
    )


def my_turn(*, user: User, document: Document) -> bool:
    """Whether the user may decide on the document now (the same predicate the decisions check)."""
    try:
        seat_for(document=document, actor=user)
    except WorkflowError:
        return False
    return True


def document_titles(document_ids) -> dict[int, str]:
    return dict(Document.objects.filter(pk__in=document_ids).values_list("pk", "title"))


def tier_completions(*, start, end):
    """(tier order, activated_at, completed_at) of every tier completed in [start, end), streamed."""
    rows = RouteTier.objects.filter(completed_at__gte=start, completed_at__lt=end, activated_at__isnull=False)
    return rows.values_list("order", "activated_at", "completed_at").iterator()


# --- lists: search, filters, sort, keyset pages ----------------------------------------------------------

DOCUMENT_SORTS = {"newest": ("-created_at", "-id"), "oldest": ("created_at", "id"), "title": ("title", "id")}
# The same sorts on `DocumentAccess` rows: their own copy of created_at, so the index (user, -created_at,
# -document) gives the page in order.
_ACCESS_SORTS = {
    "newest": ("-created_at", "-document_id"),
    "oldest": ("created_at", "document_id"),
    "title": ("document__title", "document_id"),
}
INBOX_SORTS = {
    "waiting": ("waiting_since", "id"),
    "due": ("tier__due_at", "id"),
    "newest": ("-waiting_since", "-id"),
    "title": ("document__title", "id"),
}
DECIDED_SORTS = {"newest": ("-decided_at", "-id"), "oldest": ("decided_at", "id"), "title": ("document__title", "id")}


def list_viewer(user: User) -> tuple[bool, list[int]]:
    """Whether the person sees every document (an audit role), and whom they act for now: one query."""
    if user.is_superuser:
        return True, []
    from django.contrib.auth.models import Group
    from django.db.models import Value

    acting = delegations_active(delegate=user).annotate(what=Value("d")).values_list("what", "delegator_id")
    roles = Group.objects.filter(user=user, name__in=AUDIT_READERS).annotate(what=Value("r")).values_list("what", "pk")
    rows = list(acting.union(roles, all=True))
    return any(kind == "r" for kind, _ in rows), [pk for kind, pk in rows if kind == "d"]


def _search_words(q: str) -> list[tuple[str, list[int], int | None, bool]]:
    """(word, ids of people whose name matches, the number it may be, whether it is "#id") per word.

    The people are looked up first (a small table), so the list filters on `requester_id IN (…)` instead
    of joining users under an OR, which keeps each list on its own index.
    """
    words = []
    for word in q.split()[:6]:
        if word.startswith("#") and word[1:].isdigit() and len(word) < 19:
            words.append((word, [], int(word[1:]), True))  # "#123": that document only
            continue
        people = list(
            User.objects.filter(
                Q(first_name_th__icontains=word) | Q(last_name_th__icontains=word) | Q(username__iexact=word)
            ).values_list("pk", flat=True)[:500]
        )
        words.append((word, people, int(word) if word.isdigit() and len(word) < 18 else None, False))
    return words


def _search_q(words) -> Q:
    """Title, document number (its id, as the pages show it) or the requester's name or username."""
    match = Q()
    for word, people, number, only in words:
        if only:
            match &= Q(pk=number)
            continue
        one = Q(title__icontains=word)
        if people:
            one |= Q(requester_id__in=people)
        if number is not None:
            one |= Q(pk=number)
        match &= one
    return match


def _filtered(
    qs: QuerySet, *, prefix: str, dated: str, status="", template="", since=None, until=None, urgency=""
) -> QuerySet:
    if urgency:
        qs = qs.filter(**{f"{prefix}urgency": urgency})
    if status:
        qs = qs.filter(**{f"{prefix}status": status})
    if template:
        qs = qs.filter(**{f"{prefix}template__code": template})
    if since:
        qs = qs.filter(**{f"{dated}__date__gte": since})
    if until:
        qs = qs.filter(**{f"{dated}__date__lte": until})
    return qs


def _list_page(
    qs: QuerySet,
    *,
    ordering,
    salt: str,
    cursor: str | None,
    size: int,
    q: str = "",
    prefix: str = "",
    related=(),
    copies: int = 1,
    key=None,
) -> tuple[list, str | None]:
    """One keyset page of `qs` (already narrowed to the person's rows), searched with `q`."""
    if cursor:
        qs = keyset.after(qs, ordering, keyset.cursor_values(cursor, ordering, salt=salt))
    if q:
        # The matching documents as a subquery (on PostgreSQL the title's trigram index can serve words of 3
        # characters or more), kept to the person's rows: the planner then either walks the person's rows in
        # list order, testing each (a word in most titles, a word too short for trigrams), or starts from
        # the few matching documents. Both stop at the page: no COUNT of the matches is ever made.
        matching = Document.objects.filter(_search_q(_search_words(q))).values("pk")
        qs = qs.filter(**{f"{prefix}pk__in": matching})
    return keyset.page(qs.select_related(*related), ordering, size=size, salt=salt, copies=copies, key=key)


def documents_page(
    *,
    user: User,
    role: str = "",
    sort: str = "newest",
    cursor: str | None = None,
    size: int = 50,
    q: str = "",
    **filters,
) -> tuple[list[Document], str | None]:
    """A page of the documents the person may see (or only those they requested / hold a seat in), and
    the cursor of the next one. `filters`: status, template, since, until (see `_filtered`)."""
    salt = f"workflows.documents:{user.pk}:{role}:{sort}"
    related = ("requester", "template")
    if role == "requester":
        qs = _filtered(Document.objects.filter(requester=user), prefix="", dated="created_at", **filters)
        return _list_page(qs, ordering=DOCUMENT_SORTS[sort], salt=salt, cursor=cursor, size=size, q=q, related=related)
    sees_all, delegators = list_viewer(user)
    if sees_all and not role:
        participant = DocumentAccess.objects.filter(_access_q(user, delegators)).values("document_id")
        unclassified = Document.objects.filter(Q(confidentiality="") | Q(pk__in=participant))
        qs = _filtered(unclassified, prefix="", dated="created_at", **filters)
        return _list_page(qs, ordering=DOCUMENT_SORTS[sort], salt=salt, cursor=cursor, size=size, q=q, related=related)
    access = Q(user=user, seat=True) if role == "signer" else _access_q(user, [] if role else delegators)
    qs = _filtered(DocumentAccess.objects.filter(access), prefix="document__", dated="created_at", **filters)
    copies = 1 + (len(delegators) if not role else 0)
    rows, following = _list_page(
        qs,
        ordering=_ACCESS_SORTS[sort],
        salt=salt,
        cursor=cursor,
        size=size,
        q=q,
        prefix="document__",
        related=[f"document__{name}" for name in related],
        copies=copies,
        key=(lambda row: row.document_id) if copies > 1 else None,
    )
    return [row.document for row in rows], following


def inbox_page(
    *, user: User, sort: str = "waiting", cursor: str | None = None, size: int = 50, q: str = "", **filters
) -> tuple[list[Assignment], str | None]:
    """A page of the seats waiting for the person's decision (`inbox`), and the cursor of the next one."""
    qs = _filtered(inbox(user), prefix="document__", dated="document__created_at", **filters)
    related = ("document", "document__requester", "document__template", "tier")
    salt = f"workflows.inbox:{user.pk}:{sort}"
    return _list_page(
        qs, ordering=INBOX_SORTS[sort], salt=salt, cursor=cursor, size=size, q=q, prefix="document__", related=related
    )


def decided_page(
    *, user: User, sort: str = "newest", cursor: str | None = None, size: int = 50, q: str = "", **filters
) -> tuple[list[Assignment], str | None]:
    """A page of what the person decided ("decided by me", `decided_by`), and the cursor of the next one."""
    qs = _filtered(decided_by(user), prefix="document__", dated="document__created_at", **filters)
    related = ("document", "document__requester", "document__template", "tier", "signer")
    salt = f"workflows.decided:{user.pk}:{sort}"
    return _list_page(
        qs, ordering=DECIDED_SORTS[sort], salt=salt, cursor=cursor, size=size, q=q, prefix="document__", related=related
    )


def decided_by(user: User) -> QuerySet[Assignment]:
    """What the person decided (approved, signed, rejected, returned), for "signed by me", newest first."""
    decided = [AssignmentStatus.APPROVED, AssignmentStatus.SIGNED, AssignmentStatus.REJECTED, AssignmentStatus.RETURNED]
    return (
        Assignment.objects.filter(decided_by=user, status__in=decided)
        .select_related("document", "document__requester", "document__template", "tier", "signer")
        .order_by("-decided_at", "-id")
    )
