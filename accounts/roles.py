"""Roles are Django groups; this keeps their admin permissions in code."""

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from .models import Role

# app_label -> actions per role; "view" only for auditors, who change nothing.
ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    Role.OFFICE_USER: {},
    Role.CA_OFFICER: {
        "certificates": ("view", "add", "change"),
        "accounts": ("view",),
        "audit": ("view",),
    },
    Role.IT_ADMIN: {
        "accounts": ("view", "add", "change"),
        "workflows": ("view", "add", "change"),
        "signing": ("view", "change"),
        "certificates": ("view",),
        "audit": ("view",),
        "django_q": ("view",),
        "branding": ("view", "change"),
        # Devices are seen and removed (never added); sign-in lockouts are seen and lifted.
        "otp_totp": ("view", "delete"),
        "otp_static": ("view", "delete"),
        "otp_email": ("view", "delete"),
        "axes": ("view", "delete"),
    },
    Role.AUDITOR: {
        "audit": ("view",),
        "workflows": ("view",),
        "signing": ("view",),
        "certificates": ("view",),
        "accounts": ("view",),
        "reports": ("view",),
    },
}


@transaction.atomic
def roles_sync() -> None:
    for role, apps in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = []
        for app_label, actions in apps.items():
            for action in actions:
                perms.extend(
                    Permission.objects.filter(content_type__app_label=app_label, codename__startswith=f"{action}_")
                )
        group.permissions.set(perms)
