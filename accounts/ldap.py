"""Active Directory / LDAP sign-in: django-auth-ldap plus dsign's group → role mapping.

Which directory groups give which role is LDAP_ROLE_GROUPS (`role=group DN;…`); membership is resolved by
the configured group type, so with the nested AD type a member of a sub-group of a mapped group has the
role too. Only the mapped roles are managed from the directory; roles given by hand in the admin to
roles that are not mapped stay as they are. Every directory user is an office user. Users are linked to
their directory account by objectGUID/entryUUID (else DN), never by username onto a local account.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django_auth_ldap.backend import LDAPBackend

from .models import ExternalIdentity, Role
from .services import IdentityConflict, external_identity_link, external_identity_user, user_roles_set


def _dn_key(dn: str) -> str:
    import ldap.dn

    try:
        return ldap.dn.dn2str(ldap.dn.str2dn(dn)).lower()
    except Exception:
        return dn.strip().lower()


def roles_for_groups(*, group_dns: set[str], role_groups: dict[str, str]) -> set[str]:
    member_of = {_dn_key(dn) for dn in group_dns}
    return {role for role, dn in role_groups.items() if _dn_key(dn) in member_of}


def directory_identity(ldap_user) -> str:
    """What identifies the account in the directory: objectGUID (AD), entryUUID (OpenLDAP), else the DN."""
    attrs = ldap_user.attrs or {}
    for name in ("objectguid", "entryuuid"):
        values = next((v for k, v in attrs.items() if k.lower() == name), None)
        if values:
            value = values[0]
            if isinstance(value, bytes):  # AD's objectGUID is 16 raw bytes, little-endian in its first fields
                return f"{name}:{uuid.UUID(bytes_le=value)}" if len(value) == 16 else f"{name}:{value.hex()}"
            return f"{name}:{str(value).lower()}"
    return f"dn:{_dn_key(ldap_user.dn)}"


class DirectoryBackend(LDAPBackend):
    def get_or_build_user(self, username, ldap_user):
        # Found by the directory identity, never by username alone: a directory account called `admin`
        # does not become the local admin (django-auth-ldap's default would).
        try:
            user, _ = external_identity_user(
                provider=ExternalIdentity.Provider.LDAP,
                issuer="",
                subject=directory_identity(ldap_user),
                username=username,
            )
        except IdentityConflict as exc:
            raise ldap_user.AuthenticationFailed(str(exc)) from exc
        if user is not None:
            return user, False
        return self.get_user_model()(username=username), True

    def authenticate_ldap_user(self, ldap_user, password):
        user = super().authenticate_ldap_user(ldap_user, password)
        if user is None:
            return None
        external_identity_link(
            user=user, provider=ExternalIdentity.Provider.LDAP, issuer="", subject=directory_identity(ldap_user)
        )
        role_groups: dict[str, str] = getattr(settings, "LDAP_ROLE_GROUPS", {})
        roles = roles_for_groups(group_dns=set(ldap_user.group_dns), role_groups=role_groups)
        roles.add(Role.OFFICE_USER)
        user_roles_set(user=user, roles=roles, managed=set(role_groups) | {Role.OFFICE_USER}, source="ldap")
        return user
