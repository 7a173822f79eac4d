"""Signal receivers: login history into the audit log, and is_staff following role groups."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from . import services


@receiver(user_logged_in, dispatch_uid="accounts.login")
def _on_login(sender, request, user, **kwargs):
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
    services.login_failed_record(username=username, method=method)


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
    User = get_user_model()
    m2m_changed.connect(_on_groups_changed, sender=User.groups.through, dispatch_uid="accounts.staff_sync")
    connect_credentials()


# --- credential changes --------------------------------------------------------------------------------
# Passwords change in many doors (admin form, changepassword, set_password in services, password reset);
# the user row is where they all meet, so the event is written there.


def _on_user_pre_save(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw or instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    old = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    instance._password_changed = old is not None and old != instance.password


def _on_user_post_save(sender, instance, created, raw=False, **kwargs):
    if raw or not getattr(instance, "_password_changed", False):
        return
    instance._password_changed = False
    import audit
    from audit.context import current_request, request_user

    audit.record(
        actor=request_user(),
        action="accounts.password_changed",
        target=instance,
        details={"usable": instance.has_usable_password()},
    )
    # A new password ends every other way in: API tokens and other sessions (the browser that changed
    # its own password stays signed in).
    request = current_request.get().request
    session = getattr(request, "session", None)
    own = session.session_key if session is not None and request_user() == instance else None
    services.credentials_revoke_all(user=instance, reason="password changed", keep_session_key=own)


def _in_command() -> str:
    from audit.context import current_request

    return current_request.get().command


def _on_static_token_created(sender, instance, created, raw=False, **kwargs):
    # Codes minted through the API or the pages are audited by their services; the command line
    # (addstatictoken) has no service, so the row itself is the only place to see it.
    if raw or not created or not _in_command():
        return
    import audit

    audit.record(
        action="mfa.code_minted",
        target=instance.device.user,
        details={"device": instance.device.persistent_id, "kind": "static"},
    )


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


def connect_credentials() -> None:
    from django.db.models.signals import post_delete, post_save, pre_save
    from django_otp.plugins.otp_email.models import EmailDevice
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from .models import SMSDevice

    User = get_user_model()
    pre_save.connect(_on_user_pre_save, sender=User, dispatch_uid="accounts.password_pre")
    post_save.connect(_on_user_post_save, sender=User, dispatch_uid="accounts.password_post")
    post_save.connect(_on_static_token_created, sender=StaticToken, dispatch_uid="accounts.static_token")
    for model in (TOTPDevice, StaticDevice, EmailDevice, SMSDevice):
        post_save.connect(_on_device_saved, sender=model, dispatch_uid=f"accounts.device_saved.{model.__name__}")
        post_delete.connect(_on_device_deleted, sender=model, dispatch_uid=f"accounts.device_deleted.{model.__name__}")
