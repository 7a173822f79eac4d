"""Personal API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit

from ..models import ApiToken, User

# --- personal API tokens and revoking every credential ---------------------------------------------


def _token_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def api_token_create(
    *, user: User, name: str = "", lifetime_days: int | None = None, actor=None
) -> tuple[ApiToken, str]:
    """A new personal token; the key is returned once and only its SHA-256 is stored."""
    days = settings.API_TOKEN_LIFETIME_DAYS if lifetime_days is None else lifetime_days
    if days < 1:
        raise ValueError("a token lives at least one day")
    raw_key = secrets.token_hex(20)  # 40 hex characters, the form DRF's tokens had
    token = ApiToken.objects.create(
        user=user,
        key_prefix=raw_key[:8],
        key_hash=_token_hash(raw_key),
        name=name[:100],
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit.record(
        actor=actor,
        action="accounts.api_token_created",
        target=user,
        details={"prefix": token.key_prefix, "name": token.name, "expires_at": token.expires_at.isoformat()},
    )
    return token, raw_key


def api_token_authenticate(*, raw_key: str) -> ApiToken | None:
    """The live token with this key (not expired, not revoked, active user), or None."""
    if len(raw_key) < 16:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_prefix=raw_key[:8], key_hash=_token_hash(raw_key), revoked_at__isnull=True)
        .first()
    )
    now = timezone.now()
    if token is None or token.expires_at <= now or not token.user.is_active:
        return None
    # One write a minute at most: the API is polled.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor, reason: str = "revoked") -> None:
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason[:200]
    )
    if updated:
        audit.record(
            actor=actor,
            action="accounts.api_token_revoked",
            target=token.user,
            details={"prefix": token.key_prefix, "reason": reason[:200]},
        )
