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
