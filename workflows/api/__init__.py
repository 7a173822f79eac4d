"""REST API of documents, workflow templates, inboxes and batch signing: thin views around services.

Paths and JSON shapes here are public (DESIGN.md): extend them, never change them. Every error is JSON
`{"detail": ..., "code": ...}` with a 4xx status (refusals of services are mapped by dsign.api). People
authenticate with a token or a session; applications with an API key acting for a user, limited to the
scopes in `application_scopes` (integrations.auth) — they can read and create documents but never
approve, reject or sign.
"""

from .base import (
    _ERROR_TEXT,
    ERROR,
    IDEMPOTENCY_KEY,
    ApiView,
    KeysetListView,
    KeysetPagination,
    ListView,
    Pagination,
    _batch_versions,
    _first_error,
    _form,
    _too_large,
    _visible,
    errors,
)
from .batches import BatchChallenge, BatchCreate, BatchDetail
from .documents import (
    DecisionView,
    DocumentApprove,
    DocumentApproveChallenge,
    DocumentDetail,
    DocumentListCreate,
    DocumentRecall,
    DocumentReject,
    DocumentResubmit,
    DocumentReturn,
    Inbox,
    WorkflowList,
)
from .files import (
    DocumentArchive,
    DocumentEncrypted,
    DocumentEvidence,
    DocumentFile,
    DocumentTimeline,
    DocumentVersions,
    EncryptedCopyIn,
    EncryptedCopyOpen,
)

__all__ = [
    "ApiView",
    "BatchChallenge",
    "BatchCreate",
    "BatchDetail",
    "DecisionView",
    "DocumentApprove",
    "DocumentApproveChallenge",
    "DocumentArchive",
    "DocumentDetail",
    "DocumentEncrypted",
    "DocumentEvidence",
    "DocumentFile",
    "DocumentListCreate",
    "DocumentRecall",
    "DocumentReject",
    "DocumentResubmit",
    "DocumentReturn",
    "DocumentTimeline",
    "DocumentVersions",
    "ERROR",
    "EncryptedCopyIn",
    "EncryptedCopyOpen",
    "IDEMPOTENCY_KEY",
    "Inbox",
    "KeysetListView",
    "KeysetPagination",
    "ListView",
    "Pagination",
    "WorkflowList",
    "_ERROR_TEXT",
    "_batch_versions",
    "_first_error",
    "_form",
    "_too_large",
    "_visible",
    "errors",
]
