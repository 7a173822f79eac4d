"""Active Directory / LDAP sign-in: django-auth-ldap plus dsign's group → role mapping.

Which directory groups give which role is LDAP_ROLE_GROUPS (`role=group DN;…`); membership is resolved by
the configured group type, so with the nested AD type a member of a sub-group of a mapped group has the
role too. Only the mapped roles are managed from the directory; roles given by hand in the admin to
roles that are not mapped stay as they are. Every directory user is an office user.
"""

from __future__ import annotations

from django.conf import settings
from django_auth_ldap.backend import LDAPBackend

from .models import Role
from .services import user_roles_set


def _dn_key(dn: str) -> str:
    import ldap.dn

    try:
        return ldap.dn.dn2str(ldap.dn.str2dn(dn)).lower()
    except Exception:
        return dn.strip().lower()


def roles_for_groups(*, group_dns: set[str], role_groups: dict[str, str]) -> set[str]:
    member_of = {_dn_key(dn) for dn in group_dns}
    return {role for role, dn in role_groups.items() if _dn_key(dn) in member_of}


class DirectoryBackend(LDAPBackend):
    def authenticate_ldap_user(self, ldap_user, password):
        user = super().authenticate_ldap_user(ldap_user, password)
        if user is None:
            return None
        role_groups: dict[str, str] = getattr(settings, "LDAP_ROLE_GROUPS", {})
        roles = roles_for_groups(group_dns=set(ldap_user.group_dns), role_groups=role_groups)
        roles.add(Role.OFFICE_USER)
        user_roles_set(user=user, roles=roles, managed=set(role_groups) | {Role.OFFICE_USER}, source="ldap")
        return user
