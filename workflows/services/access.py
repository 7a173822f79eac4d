"""Who may see which document (`DocumentAccess`), kept in the transactions that change who takes part.

Every function here runs inside its caller's transaction: a route that starts, a seat that changes hands,
a delegate's decision or a failed signature that takes a delegate's decision back. Reads are in
`workflows.selectors` (`documents_page`), which also adds the seats of the people one acts for.
"""

from __future__ import annotations

from django.db import connection

from ..models import Assignment, Document, DocumentAccess

# Every (person, document) pair that may see it: the requester, each seat holder, each person who decided a
# seat (a delegate); one row per pair, flags OR-ed. Integers, so that MAX works on SQLite and PostgreSQL.
REBUILD_SQL = """
INSERT INTO workflows_documentaccess (user_id, document_id, requester, seat, created_at)
SELECT p.user_id, p.document_id, MAX(p.requester) = 1, MAX(p.seat) = 1, MAX(d.created_at)
FROM (
    SELECT requester_id AS user_id, id AS document_id, 1 AS requester, 0 AS seat FROM workflows_document
    UNION ALL
    SELECT signer_id, document_id, 0, 1 FROM workflows_assignment
    UNION ALL
    SELECT decided_by_id, document_id, 0, 1 FROM workflows_assignment WHERE decided_by_id IS NOT NULL
) p JOIN workflows_document d ON d.id = p.document_id
{where}
GROUP BY p.user_id, p.document_id
"""


def document_access_rebuild(*, from_id: int = 0) -> int:
    """Rebuild the rows of every document with id >= `from_id` from the routes; returns the rows written.

    For data written outside the services (the bench's COPY) and for repair; the services keep the rows
    as they go."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM workflows_documentaccess WHERE document_id >= %s", [from_id])
        cursor.execute(REBUILD_SQL.format(where="WHERE p.document_id >= %s"), [from_id])
        return cursor.rowcount


def document_access_start(*, document: Document) -> None:
    """A new route: its requester and every seat holder, in one INSERT."""
    rows = {document.requester_id: DocumentAccess(user_id=document.requester_id, requester=True)}
    for signer_id in Assignment.objects.filter(document=document).values_list("signer_id", flat=True):
        rows.setdefault(signer_id, DocumentAccess(user_id=signer_id)).seat = True
    for row in rows.values():
        row.document_id, row.created_at = document.pk, document.created_at
    DocumentAccess.objects.bulk_create(rows.values())


def document_access_decided(*, document: Document, seat: Assignment, actor) -> None:
    """`actor` decided `seat`: a delegate deciding for its holder keeps seeing the document afterwards.

    The holder deciding their own seat changes nothing (no query)."""
    if actor.pk == seat.signer_id:
        return
    DocumentAccess.objects.bulk_create(
        [DocumentAccess(user_id=actor.pk, document_id=document.pk, seat=True, created_at=document.created_at)],
        update_conflicts=True,
        unique_fields=["user", "document"],
        update_fields=["seat"],
    )


def document_access_sync(*, document: Document) -> None:
    """Make the document's rows match its route again (a seat reassigned, a decision taken back)."""
    wanted: dict[int, list[bool]] = {document.requester_id: [True, False]}
    for signer_id, decided_by_id in Assignment.objects.filter(document=document).values_list(
        "signer_id", "decided_by_id"
    ):
        for user_id in (signer_id, decided_by_id):
            if user_id is not None:
                wanted.setdefault(user_id, [False, False])[1] = True
    have = {row.user_id: row for row in DocumentAccess.objects.filter(document=document)}
    gone = [row.pk for user_id, row in have.items() if user_id not in wanted]
    if gone:
        DocumentAccess.objects.filter(pk__in=gone).delete()
    new, changed = [], []
    for user_id, (requester, seat) in wanted.items():
        row = have.get(user_id)
        if row is None:
            new.append(
                DocumentAccess(
                    user_id=user_id, document=document, requester=requester, seat=seat, created_at=document.created_at
                )
            )
        elif (row.requester, row.seat) != (requester, seat):
            row.requester, row.seat = requester, seat
            changed.append(row)
    DocumentAccess.objects.bulk_create(new)
    if changed:
        DocumentAccess.objects.bulk_update(changed, ["requester", "seat"])
