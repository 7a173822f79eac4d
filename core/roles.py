"""Role names and the one role check.

Roles are Django groups with these names (`accounts.models.Role` gives them their labels); a superuser
holds every role. `has_role(user, *roles)` is the check every app uses, `role_holders_q(*roles)` the
same rule as a queryset filter on users.
"""

from __future__ import annotations

from django.db.models import Q

__all__ = [
    "ALL_ROLES",
    "AUDITOR",
    "AUDIT_READERS",
    "CERTIFICATE_MANAGERS",
    "CA_OFFICER",
    "IT_ADMIN",
    "OFFICE_USER",
    "STAFF_ROLES",
    "has_role",
    "role_holders_q",
]

OFFICE_USER = "office_user"
CA_OFFICER = "ca_officer"
IT_ADMIN = "it_admin"
AUDITOR = "auditor"

ALL_ROLES = (OFFICE_USER, CA_OFFICER, IT_ADMIN, AUDITOR)
# Roles that work in the Django admin (the operator console); office users never do.
STAFF_ROLES = frozenset({CA_OFFICER, IT_ADMIN, AUDITOR})
# Who issues, revokes and imports certificates for others and changes trust roots (and is told of
# expiries): CA officers only. IT admins hold "certificates: view" (they read them as AUDIT_READERS).
CERTIFICATE_MANAGERS = (CA_OFFICER,)
# Who reads the whole audit log, every document and every certificate (and receives the monthly report).
AUDIT_READERS = (AUDITOR, IT_ADMIN)


def has_role(user, *roles: str) -> bool:
    """True when `user` is a signed-in superuser or belongs to one of the groups `roles`."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    return bool(roles) and user.groups.filter(name__in=roles).exists()


def role_holders_q(*roles: str) -> Q:
    """Users holding one of `roles` (superusers hold all); combine with `.distinct()`."""
    return Q(is_superuser=True) | Q(groups__name__in=roles)
