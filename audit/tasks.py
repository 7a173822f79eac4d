"""Scheduled audit jobs (named in dsign/schedules.py): anchoring the chain head and retention."""

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from . import services


def anchor_chain() -> int | None:
    """Daily: RFC 3161 timestamp over the chain head. Returns the anchored event id (None: empty chain)."""
    anchor = services.chain_anchor()
    return anchor.event_id if anchor else None


def apply_retention() -> int:
    """Export events older than AUDIT_RETENTION_DAYS to a timestamped .jsonl.gz in the document storage
    (files or S3, under audit-exports/), then prune them."""
    with tempfile.TemporaryDirectory(prefix="dsign-audit-export-") as work:
        prune = services.retention_apply(
            retention_days=settings.AUDIT_RETENTION_DAYS, export_dir=Path(work), storage=default_storage
        )
    return prune.pruned_count if prune else 0
