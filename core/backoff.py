"""Retry delays for transient failures of external calls (HSM, TSA, storage, webhooks)."""

from __future__ import annotations

from datetime import timedelta

__all__ = ["backoff"]


def backoff(attempts: int, *, base: timedelta, cap: timedelta) -> timedelta:
    """The wait after the `attempts`-th failure: base, 2×base, 4×base… never more than `cap`."""
    exponent = min(max(attempts - 1, 0), 30)
    return min(base * (2**exponent), cap)
