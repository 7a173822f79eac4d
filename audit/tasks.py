"""Scheduled audit jobs (named in dsign/schedules.py): anchoring the chain head and retention."""

from pathlib import Path

from django.conf import settings

from . import services


def anchor_chain() -> int | None:
    """Daily: RFC 3161 timestamp over the chain head. Returns the anchored event id (None: empty chain)."""
    anchor = services.chain_anchor()
    return anchor.event_id if anchor else None


def apply_retention() -> int:
    """Export events older than AUDIT_RETENTION_DAYS to a timestamped .jsonl.gz, then prune them."""
    prune = services.retention_apply(
        retention_days=settings.AUDIT_RETENTION_DAYS,
        export_dir=Path(settings.VAR_DIR) / "audit-exports",
    )
    return prune.pruned_count if prune else 0
