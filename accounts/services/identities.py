"""Directory and identity-provider accounts."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

import audit

from ..models import ExternalIdentity, User

# --- directory and identity-provider accounts ------------------------------------------------------


class IdentityConflict(Exception):
    """An external identity would land on an existing account it is not linked to; refused, audited."""


def _linkable(user: User) -> bool:
    # Accounts made by an earlier directory or SSO sign-in (no password of their own, no link yet) are
    # claimed once, audited, then pinned; a local account (it has a password), a superuser or an account
    # already linked to another identity never is.
    return not user.has_usable_password() and not user.is_superuser and not user.external_identities.exists()


def external_identity_user(*, provider: str, issuer: str, subject: str, username: str) -> tuple[User | None, bool]:
    """The user an external identity signs in as: (user, False) when linked, (None, True) when a new user
    should be created, IdentityConflict when the username belongs to another account."""
    link = ExternalIdentity.objects.select_related("user").filter(provider=provider, issuer=issuer, subject=subject)
    link = link.first()
    if link is not None:
        ExternalIdentity.objects.filter(pk=link.pk).update(last_login_at=timezone.now())
        return link.user, False
    existing = User.objects.filter(username__iexact=username).first()
    if existing is None:
        return None, True
    if not _linkable(existing):
        with transaction.atomic():  # its own transaction: the refused sign-in rolls back the rest
            audit.record(
                actor=username[:150] or None,
                action="accounts.identity_conflict",
                target=existing,
                outcome="denied",
                details={"provider": provider, "issuer": issuer, "subject": subject[:200]},
            )
        raise IdentityConflict(
            f"An account called {username!r} exists already and is not linked to this {provider} identity; "
            "an administrator must link it."
        )
    external_identity_link(user=existing, provider=provider, issuer=issuer, subject=subject)
    return existing, False


@transaction.atomic
def external_identity_link(*, user: User, provider: str, issuer: str, subject: str, actor=None) -> ExternalIdentity:
    link, created = ExternalIdentity.objects.get_or_create(
        provider=provider, issuer=issuer, subject=subject, defaults={"user": user, "last_login_at": timezone.now()}
    )
    if created:
        audit.record(
            actor=actor,
            action="accounts.identity_linked",
            target=user,
            details={"provider": provider, "issuer": issuer, "subject": subject[:200]},
        )
    return link
