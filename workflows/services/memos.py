"""Memos composed in dsign (the office composer and `POST /api/v1/documents/` with `memo`): one renderer.

`memo_render` lays the memo out with an empty box per seat below the body (workflows.memo) and returns the
PDF and each seat's box, by username, for the route; `memo_route_start` also takes the memo's number from
the send register when none is given, in the transaction that starts the route.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from branding.selectors import branding_get

from ..memo import Memo, SignerBlock, render_memo_pdf
from ..models import Confidentiality, Document, Urgency, WorkflowTemplate
from .registers import register_number_take
from .routes import route_create, route_seats


@dataclass
class MemoFields:
    """What a person writes on a memo; the seats come from the workflow template."""

    department: str
    subject: str
    to: str
    body: str
    number: str = ""
    date: datetime.date | None = None
    urgency: str = ""
    confidentiality: str = ""
    attachments: list[str] = field(default_factory=list)
    external: bool = False


def memo_seats(*, template: WorkflowTemplate, requester: User) -> list[dict]:
    """The seats the route will open, in order: username, name, position and tier order."""
    return [
        {"username": user.username, "name": user.full_name_th, "position": user.position, "tier": tier.order}
        for tier, signers, _ in route_seats(template=template, actor=requester)
        for user in signers
    ]


def memo_render(*, fields: MemoFields, template: WorkflowTemplate, requester: User) -> tuple[bytes, dict[str, dict]]:
    """The memo as PDF, and {username: {"page", "box"}} of each seat's box in the space below the body."""
    brand = branding_get()
    seats = memo_seats(template=template, requester=requester)
    memo = Memo(
        department=fields.department or brand.name,
        reference_no=fields.number,
        date=fields.date or timezone.localdate(),
        subject=fields.subject,
        salutation=fields.to,
        body=fields.body,
        signers=[SignerBlock(full_name=s["name"], position=s["position"], tier=s["tier"]) for s in seats],
        attachments=list(fields.attachments),
        urgency=Urgency(fields.urgency).label if fields.urgency else "",
        confidentiality=Confidentiality(fields.confidentiality).label if fields.confidentiality else "",
        external=fields.external,
    )
    pdf, areas = render_memo_pdf(
        memo=memo, emblem_path=brand.emblem_path, organisation_name=brand.name, static_root=settings.BASE_DIR / "static"
    )
    placements = {
        seat["username"]: {"page": area.page, "box": [area.x1, area.y1, area.x2, area.y2]}
        for seat, area in zip(seats, areas, strict=True)
    }
    return pdf, placements


@transaction.atomic(durable=True)
def memo_route_start(
    *,
    title: str,
    fields: MemoFields,
    template: WorkflowTemplate,
    actor: User,
    placements: dict[str, dict] | None = None,
    pdf_finish: Callable[[bytes], bytes] | None = None,
) -> Document:
    """Number (from the requester's unit's send register unless `fields.number` is given), render and route a
    memo; the number is given back if anything fails, so the register has no gaps. `placements` (boxes the
    requester moved) override the memo's own; `pdf_finish` adds to the rendered memo (attached pages)."""
    if not fields.number:
        fields.number = register_number_take(org_unit=actor.org_unit, on=fields.date)
    pdf, rendered = memo_render(fields=fields, template=template, requester=actor)
    if pdf_finish is not None:
        pdf = pdf_finish(pdf)
    return route_create(
        title=title,
        pdf=pdf,
        template=template,
        actor=actor,
        placements={**rendered, **(placements or {})},
        reference_no=fields.number,
        urgency=fields.urgency,
        confidentiality=fields.confidentiality,
    )
