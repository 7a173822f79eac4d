"""Every write of the workflow engine, by concern; this package exports the public services.

- `routes`: start a route, open and complete tiers, new rounds, resubmit, recall, cancel, reassign.
- `decisions`: approve (the one approval service every door calls), approve a batch, reject, return.
- `documents`: check an upload, store versions, the archive copy and its timestamp renewal.
- `delegation`: create and revoke delegations.
- `access`: who may see which document (`DocumentAccess`), kept as routes change.
- `memos`: render a memo with a box per seat and route it; `registers`: the send register's numbers.
- `reminders`: remind and escalate tiers that wait too long.
- `common`: refusals (`WorkflowError` and its kinds), the document lock, notifications, webhooks.

Reads live in `workflows.selectors`, which never imports this package.
"""

from ..errors import AlreadyDecided, InvalidDocument, NotAllowed, NotFound, NotYourTurn, StaleVersion, WorkflowError
from ..selectors import SIGNING_HANDLER
from .access import document_access_decided, document_access_rebuild, document_access_start, document_access_sync
from .common import document_lock, it_admins, notify, webhook_on_commit
from .decisions import (
    approval_passkey_options,
    decision_approve,
    decision_approve_batch,
    decision_reject,
    decision_return,
)
from .delegation import delegation_check, delegation_create, delegation_revoke
from .documents import (
    ARCHIVE_RENEW_MARGIN,
    PdfInfo,
    archive_copy_make,
    archive_timestamp_renew,
    pdf_inspect,
    signing_record,
    version_store,
)
from .memos import MemoFields, memo_render, memo_route_start, memo_seats
from .registers import register_number_take
from .reminders import reminders_send
from .routes import (
    SLOT_HEIGHT,
    SLOT_WIDTH,
    assignment_reassign,
    resolve_signers,
    route_cancel,
    route_maybe_complete,
    route_recall,
    route_resubmit,
    route_start,
    template_positions_save,
    tier_maybe_advance,
)

__all__ = [
    "ARCHIVE_RENEW_MARGIN",
    "SIGNING_HANDLER",
    "SLOT_HEIGHT",
    "SLOT_WIDTH",
    "AlreadyDecided",
    "InvalidDocument",
    "MemoFields",
    "NotAllowed",
    "NotFound",
    "NotYourTurn",
    "PdfInfo",
    "StaleVersion",
    "WorkflowError",
    "archive_copy_make",
    "archive_timestamp_renew",
    "assignment_reassign",
    "approval_passkey_options",
    "decision_approve",
    "decision_approve_batch",
    "decision_reject",
    "decision_return",
    "delegation_check",
    "delegation_create",
    "delegation_revoke",
    "document_access_decided",
    "document_access_rebuild",
    "document_access_start",
    "document_access_sync",
    "document_lock",
    "it_admins",
    "memo_render",
    "memo_route_start",
    "memo_seats",
    "notify",
    "pdf_inspect",
    "register_number_take",
    "reminders_send",
    "resolve_signers",
    "route_cancel",
    "route_maybe_complete",
    "route_recall",
    "route_resubmit",
    "route_start",
    "signing_record",
    "template_positions_save",
    "tier_maybe_advance",
    "version_store",
    "webhook_on_commit",
]
