"""Delegations: ปฏิบัติราชการแทน / รักษาราชการแทน, created and revoked with their audit rows."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

import audit
from accounts.models import User

from ..errors import InvalidDocument, NotAllowed
from ..models import Delegation
from .common import admin_required


def delegation_check(*, delegator: User, delegate: User, actor: User) -> None:
    """Who may be made whose delegate, by whom (a requester is refused again at each decision, see
    workflows.selectors.seat_for)."""
    if delegator.pk == delegate.pk:
        raise InvalidDocument("A person cannot delegate to themselves.")
    if actor.pk != delegator.pk:
        admin_required(actor)
        if delegate.pk == actor.pk:
            raise NotAllowed("An administrator cannot make themselves someone's delegate.")


@transaction.atomic  # not durable: Django admin's add view already runs in a transaction
def delegation_create(*, delegator: User, delegate: User, starts_at, ends_at, kind: str, actor: User) -> Delegation:
    """ปฏิบัติราชการแทน / รักษาราชการแทน: `delegate` may decide for `delegator` from `starts_at` to `ends_at`."""
    delegation_check(delegator=delegator, delegate=delegate, actor=actor)
    if ends_at <= starts_at:
        raise InvalidDocument("The delegation must end after it starts.")
    if kind not in Delegation.Kind.values:
        raise InvalidDocument(f"Unknown kind of delegation {kind!r}.")
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
        admin_required(actor)
    updated = Delegation.objects.filter(pk=delegation.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if updated:
        audit.record(actor=actor, action="delegation.revoked", target=delegation)
    delegation.refresh_from_db()
    return delegation
