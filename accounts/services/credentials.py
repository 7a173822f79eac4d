"""Security notices, passwords, sign-in, lockouts, roles and the login history."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from core.roles import ALL_ROLES, STAFF_ROLES, has_role

from ..models import ApiToken, StepUp, User
from .mfa import MFAError


def _hhmm_date(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


# --- security notices, passwords and credentials ------------------------------------------------------


SECURITY_NOTICE_EMAIL_KIND = "accounts.security_notice"


def security_notice_send(*, user: User, what: str, extra: str = "") -> None:
    """E-mail the user (branded) that something about their sign-in or factors changed; after commit."""
    if not user.email:
        return
    from django.template.loader import render_to_string

    from audit.context import current_request
    from branding.email import branded_email, has_logo
    from branding.selectors import branding_get
    from mailer.services import email_queue

    context = {
        "user": user,
        "what": what,
        "extra": extra,
        "when": _hhmm_date(timezone.now()),
        "ip_address": current_request.get().ip_address or "",
        "organization": branding_get().name,
        "has_logo": has_logo(),
        "mfa_url": f"{settings.BASE_URL}/accounts/mfa/",
    }
    text = render_to_string("emails/accounts/security_notice.txt", context)
    html = render_to_string("emails/accounts/security_notice.html", context)
    subject = f"[{context['organization']}] " + _("Security notice: %(what)s") % {"what": what}
    message = branded_email(subject=subject, text=text, html=html, to=[user.email])
    # through the mail ledger: sent by a worker after commit, retried, never inside the request
    email_queue(message=message, kind=SECURITY_NOTICE_EMAIL_KIND, ref=f"accounts.user:{user.pk}")


def _user_sessions(user: User):
    from django.contrib.sessions.models import Session

    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id", "")) == str(user.pk):
            yield session.session_key


@transaction.atomic
def credentials_revoke_all(*, user: User, reason: str, keep_session_key: str | None = None) -> dict:
    """Revoke everything that lets someone act as `user` without the password: API tokens, the other
    browser sessions, the current MFA step-up. Called on every password change or reset.

    The one place that knows every kind of credential (the API token engineer extends it).
    """
    from importlib import import_module

    # Personal tokens are revoked (kept, hashed, for the record), not deleted.
    tokens = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason[:200]
    )
    # Live sessions are few (idle timeout); they are decoded to find the user's.
    keys = [key for key in _user_sessions(user) if key != keep_session_key]
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for key in keys:
        store(session_key=key).delete()  # through the engine, so a cached_db cache forgets it too
    sessions = len(keys)
    StepUp.objects.filter(user=user).delete()
    audit.record(
        actor=None,
        action="accounts.credentials_revoked",
        target=user,
        details={"reason": reason[:100], "api_tokens": tokens, "sessions": sessions},
    )
    return {"api_tokens": tokens, "sessions": sessions}


@transaction.atomic
def password_changed(*, user: User, keep_session_key: str | None = None) -> None:
    """After any change of the password (the user, a reset link, a superuser, a command): audit, revoke
    the other credentials, tell the user."""
    audit.record(actor=None, action="accounts.password_changed", target=user, details={})
    credentials_revoke_all(user=user, reason="password_changed", keep_session_key=keep_session_key)
    security_notice_send(user=user, what=_("your password was changed"))


@transaction.atomic
def password_reset_link_send(*, user: User, actor: User) -> None:
    """An admin's reset: the user gets a link to set a password themselves; the admin never sets it."""
    from django.contrib.auth.tokens import default_token_generator
    from django.urls import reverse
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    if not user.email:
        raise MFAError(_("%(user)s has no e-mail address to send the link to.") % {"user": user.username})
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    link = settings.BASE_URL + reverse(
        "password_reset_confirm", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)}
    )
    audit.record(actor=actor, action="accounts.password_reset_link_sent", target=user, details={})
    security_notice_send(
        user=user,
        what=_("an administrator (%(admin)s) sent you a link to set a new password") % {"admin": actor.username},
        extra=_("Set your new password here: %(link)s") % {"link": link},
    )


def password_sign_in(*, request, username: str, password: str) -> User:
    """Sign in with a password (API session door); locked-out accounts and addresses are refused (429)."""
    from django.contrib.auth import authenticate, login

    user = authenticate(request, username=username, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            from ..lockout import lockout_message

            raise MFAError(lockout_message(), status=429, code="locked_out")
        raise MFAError(_("The username or password is wrong."), status=400, code="invalid_credentials")
    login(request, user)
    return user


@transaction.atomic
def login_unlock(*, username: str, actor: User, ip_address: str = "") -> int:
    """Lift a sign-in lockout early (the account, and optionally a client address). Audited."""
    from axes.utils import reset

    removed = reset(username=username) if username else 0
    if ip_address:
        removed += reset(ip=ip_address)
    audit.record(
        actor=actor,
        action="accounts.login_unlocked",
        target=("accounts.user", ""),
        details={"username": username, "ip_address": ip_address, "attempts_removed": removed},
    )
    return removed


def locked_out_record(*, username: str, ip_address: str | None) -> None:
    with transaction.atomic():
        audit.record(
            actor=(username or "")[:150] or None,
            action="accounts.locked_out",
            target=("accounts.user", ""),
            outcome="failure",
            details={"username": (username or "")[:150], "ip_address": ip_address or ""},
        )


def static_token_minted_record(*, token) -> None:
    """A backup code made outside the services (`manage.py addstatictoken`, the shell) is audited."""
    device = token.device
    with transaction.atomic():
        audit.record(
            actor=None,
            action="accounts.static_token_minted",
            target=device.user,
            details={"device": device.persistent_id, "source": "command line or shell"},
        )


def staff_sync(*, user: User) -> None:
    """is_staff follows the roles: CA officers, IT admins and auditors use the admin; superusers always."""
    wanted = has_role(user, *STAFF_ROLES)
    if user.is_staff != wanted:
        User.objects.filter(pk=user.pk).update(is_staff=wanted)
        user.is_staff = wanted


@transaction.atomic
def user_roles_set(*, user: User, roles: set[str], managed: set[str] | None = None, source: str) -> None:
    """Make the user's role groups among `managed` exactly `roles` (a directory owns only what it maps)."""
    managed = set(ALL_ROLES if managed is None else managed) & set(ALL_ROLES)
    roles = set(roles) & managed
    current = set(user.groups.filter(name__in=managed).values_list("name", flat=True))
    added, removed = roles - current, current - roles
    if added:
        for role in added:
            group, _created = Group.objects.get_or_create(name=role)
            user.groups.add(group)
    if removed:
        user.groups.remove(*Group.objects.filter(name__in=removed))
    staff_sync(user=user)
    if added or removed:
        audit.record(
            actor=None,
            action="accounts.roles_changed",
            target=user,
            details={"source": source, "added": sorted(added), "removed": sorted(removed)},
        )


def login_method(backend_path: str | None) -> str:
    path = (backend_path or "").lower()
    if "ldap" in path or path.endswith("directorybackend"):
        return "ldap"
    if "oidc" in path:
        return "oidc"
    if "token" in path:
        return "token"
    return "local"


def login_record(*, user: User, method: str) -> None:
    with transaction.atomic():
        audit.record(actor=user, action="accounts.login", target=user, details={"method": method})


def login_failed_record(*, username: str, method: str, reason: str = "") -> None:
    details = {"method": method, "username": (username or "")[:150]}
    if reason:
        details["reason"] = reason[:200]
    with transaction.atomic():
        audit.record(
            actor=(username or "")[:150] or None,
            action="accounts.login_failed",
            target=("accounts.user", ""),
            outcome="failure",
            details=details,
        )
