"""Outgoing HTTP (webhooks, the SMS gateway): which answers are worth sending again.

The ledger rows of those calls record an outcome; a transient one is retried with `core.backoff`, a
permanent one is not (the receiver refuses the request itself: bad URL, authentication, payload).
"""

from __future__ import annotations

__all__ = ["TRANSIENT_STATUSES", "http_status_transient"]

# 4xx answers that mean "later": request timeout, too early, too many requests.
TRANSIENT_STATUSES = frozenset({408, 425, 429})


def http_status_transient(status: int) -> bool:
    """A 5xx or a "later" 4xx: the same request may succeed when sent again."""
    return status in TRANSIENT_STATUSES or status >= 500
