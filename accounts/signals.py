"""Signal receivers: login history and lockouts into the audit log, is_staff following role groups,
password changes (whatever door) revoking the other credentials, minted backup codes audited."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from . import services


@receiver(user_logged_in, dispatch_uid="accounts.login")
def _on_login(sender, request, user, **kwargs):
    services.sign_in_mark(request=request)
    services.login_record(user=user, method=services.login_method(getattr(user, "backend", None)))


@receiver(user_logged_out, dispatch_uid="accounts.logout")
def _on_logout(sender, request, user, **kwargs):
    if user is not None:
        import audit

        audit.record(actor=user, action="accounts.logout", target=user)


@receiver(user_login_failed, dispatch_uid="accounts.login_failed")
def _on_login_failed(sender, credentials, request=None, **kwargs):
    from django.conf import settings

    username = credentials.get("username") or ""
    if "nonce" in credentials or "code_verifier" in credentials or "/oidc/" in getattr(request, "path", ""):
        method = "oidc"
    elif getattr(settings, "LDAP_ENABLED", False) and not _has_local_password(username):
        method = "ldap"
    else:
        method = "local"
    reason = "locked out" if getattr(request, "axes_locked_out", False) else ""
    services.login_failed_record(username=username, method=method, reason=reason)


def _on_locked_out(sender, request, username, ip_address, **kwargs):
    services.locked_out_record(username=username, ip_address=ip_address)


def _on_user_pre_save(sender, instance, **kwargs):
    # set_password() keeps the new raw password in _password until save(); that is the one moment every
    # door (password change, reset link, admin, changepassword, shell) passes through.
    instance._accounts_password_changed = bool(instance.pk) and getattr(instance, "_password", None) is not None


def _on_user_post_save(sender, instance, created, **kwargs):
    if getattr(instance, "_accounts_password_changed", False) and not created:
        instance._accounts_password_changed = False
        services.password_changed(user=instance)


def _on_static_token_saved(sender, instance, created, **kwargs):
    if created:
        services.static_token_minted_record(token=instance)


def _has_local_password(username: str) -> bool:
    user = get_user_model().objects.filter(username=username).only("password").first()
    return bool(user and user.has_usable_password())


def _on_groups_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    User = get_user_model()
    if not reverse:
        if isinstance(instance, User):
            services.staff_sync(user=instance)
        return
    # group.user_set changed: resync the users concerned (all of them on clear).
    users = User.objects.filter(pk__in=pk_set) if pk_set else instance.user_set.all()
    for user in users:
        services.staff_sync(user=user)


def connect() -> None:
    from axes.signals import user_locked_out
    from django.db.models.signals import post_save, pre_save
    from django_otp.plugins.otp_static.models import StaticToken

    User = get_user_model()
    m2m_changed.connect(_on_groups_changed, sender=User.groups.through, dispatch_uid="accounts.staff_sync")
    user_locked_out.connect(_on_locked_out, dispatch_uid="accounts.locked_out")
    pre_save.connect(_on_user_pre_save, sender=User, dispatch_uid="accounts.password_pre_save")
    post_save.connect(_on_user_post_save, sender=User, dispatch_uid="accounts.password_post_save")
    # Backup codes from services are bulk-created (no signal); one saved alone came from addstatictoken or
    # a shell, and is audited so a minted code is never silent.
    post_save.connect(_on_static_token_saved, sender=StaticToken, dispatch_uid="accounts.static_token_minted")
    connect_command_line_devices()
    from mailer.signals import email_attempted

    email_attempted.connect(_on_security_notice_attempted, dispatch_uid="accounts.security_notice_attempted")


def _on_security_notice_attempted(*, email, status, error, **kwargs):
    """A security notice the mail ledger gave up on is audited on the user (who was not told of the change)."""
    from mailer.models import EmailStatus

    if email.kind != services.SECURITY_NOTICE_EMAIL_KIND or status != EmailStatus.FAILED:
        return
    import audit

    user = get_user_model().objects.filter(pk=email.ref_id).first()
    if user is None:
        return
    from django.db import transaction

    with transaction.atomic():
        audit.record(
            action="accounts.security_notice_failed",
            target=user,
            outcome="failure",
            details={"error": error[:300], "email_id": email.pk},
        )


# Factors added or removed from the command line or a shell (the pages and the API audit theirs in their
# services): the row is the only place that sees it.


def _in_command() -> str:
    from audit.context import current_request

    return current_request.get().command


def _on_device_saved(sender, instance, created, raw=False, **kwargs):
    if raw or not created or not _in_command():
        return
    import audit

    audit.record(action="mfa.device_added", target=instance.user, details={"device": instance.persistent_id})


def _on_device_deleted(sender, instance, **kwargs):
    if not _in_command():
        return
    import audit

    audit.record(action="mfa.device_removed", target=instance.user, details={"device": instance.persistent_id})


def connect_command_line_devices() -> None:
    from django.db.models.signals import post_delete, post_save
    from django_otp.plugins.otp_email.models import EmailDevice
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from .models import SMSDevice

    for model in (TOTPDevice, StaticDevice, EmailDevice, SMSDevice):
        post_save.connect(_on_device_saved, sender=model, dispatch_uid=f"accounts.device_saved.{model.__name__}")
        post_delete.connect(_on_device_deleted, sender=model, dispatch_uid=f"accounts.device_deleted.{model.__name__}")
