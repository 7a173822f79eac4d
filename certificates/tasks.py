"""Scheduled certificate jobs (named in dsign/schedules.py): thin adapters over certificates.services."""

from __future__ import annotations

from . import responders, services


def refresh_crls() -> None:
    """Hourly: re-sign the root and issuing CRLs so they never go stale between revocations."""
    responders.crls_refresh()


def send_expiry_warnings() -> dict:
    """Daily: mark certificates past their expiry, then send the warnings due today (each once, by ledger)."""
    expired = services.certificates_expire()
    run = services.expiry_warnings_send()
    return {"expired": expired, "queued": len(run.queued), "failed": len(run.failed)}
