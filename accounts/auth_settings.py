"""Turns the sign-in environment variables into django-auth-ldap and mozilla-django-oidc settings.

dsign/settings.py calls `ldap_settings` and `oidc_settings` with the process environment; both are plain
functions of a mapping so they can be tested without Django settings. The README's variable table is the
list of keys read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

DEFAULT_LDAP_USER_FILTER = "(sAMAccountName=%(user)s)"
# AD keeps no standard Thai-name attributes; organisations usually put them in extensionAttributeN.
DEFAULT_LDAP_ATTR_MAP = (
    "first_name=givenName,last_name=sn,email=mail,title_th=extensionAttribute3,"
    "first_name_th=extensionAttribute1,last_name_th=extensionAttribute2,position=title,phone=telephoneNumber"
)
DEFAULT_OIDC_CLAIM_MAP = (
    "first_name=given_name,last_name=family_name,email=email,first_name_th=given_name_th,"
    "last_name_th=family_name_th,title_th=title_th,position=job_title"
)
USER_FIELDS = {"first_name", "last_name", "email", "title_th", "first_name_th", "last_name_th", "title_en"}
USER_FIELDS |= {"position", "phone"}

GROUP_TYPES = {
    "nested_active_directory": "NestedActiveDirectoryGroupType",
    "active_directory": "ActiveDirectoryGroupType",
    "nested_group_of_names": "NestedGroupOfNamesType",
    "group_of_names": "GroupOfNamesType",
    "nested_group_of_unique_names": "NestedGroupOfUniqueNamesType",
    "group_of_unique_names": "GroupOfUniqueNamesType",
    "posix": "PosixGroupType",
}


def _secret(environ: Mapping[str, str], name: str) -> str:
    path = environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return environ.get(name, "")


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def parse_pairs(
    text: str, *, allowed_keys: set[str] | None = None, name: str = "value", separator: str = ";"
) -> dict[str, str]:
    """'a=x;b=y' -> {'a': 'x', 'b': 'y'}. Role maps hold DNs (with ',') and are split on ';'; attribute
    maps hold LDAP attribute options (givenName;lang-th) and are split on ','."""
    pairs: dict[str, str] = {}
    for item in (text or "").split(separator):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ValueError(f"{name}: {item!r} is not KEY=VALUE")
        if allowed_keys is not None and key not in allowed_keys:
            raise ValueError(f"{name}: unknown key {key!r} (allowed: {', '.join(sorted(allowed_keys))})")
        pairs[key] = value
    return pairs


def _role_names() -> set[str]:
    # Kept in step with accounts.models.Role without importing models before Django is set up.
    return {"office_user", "ca_officer", "it_admin", "auditor"}


LDAP_USER_ATTRS = ["*", "objectGUID", "entryUUID"]


def ldap_settings(environ: Mapping[str, str]) -> dict:
    """AUTH_LDAP_* settings from the environment; {'LDAP_ENABLED': False} when LDAP_SERVER_URI is unset."""
    uri = environ.get("LDAP_SERVER_URI", "").strip()
    if not uri:
        return {"LDAP_ENABLED": False, "LDAP_ROLE_GROUPS": {}}

    import ldap
    from django_auth_ldap import config

    search_base = environ.get("LDAP_USER_SEARCH_BASE", "").strip()
    if not search_base:
        raise ValueError("LDAP_USER_SEARCH_BASE is required when LDAP_SERVER_URI is set")
    user_filter = environ.get("LDAP_USER_FILTER", "").strip() or DEFAULT_LDAP_USER_FILTER
    group_base = environ.get("LDAP_GROUP_SEARCH_BASE", "").strip() or search_base
    group_type_name = environ.get("LDAP_GROUP_TYPE", "").strip() or "nested_active_directory"
    if group_type_name not in GROUP_TYPES:
        raise ValueError(f"LDAP_GROUP_TYPE must be one of {', '.join(GROUP_TYPES)}")
    group_type = getattr(config, GROUP_TYPES[group_type_name])()
    if group_type_name == "posix":
        default_group_filter = "(objectClass=posixGroup)"
    elif "active_directory" in group_type_name:
        default_group_filter = "(objectClass=group)"
    else:
        default_group_filter = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
    group_filter = environ.get("LDAP_GROUP_FILTER", "").strip() or default_group_filter

    options: dict = {
        ldap.OPT_REFERRALS: 0,  # AD answers with referrals python-ldap cannot follow anonymously
        ldap.OPT_NETWORK_TIMEOUT: int(environ.get("LDAP_TIMEOUT", "10")),
    }
    ca_file = environ.get("LDAP_CA_CERT_FILE", "").strip()
    if ca_file:
        options[ldap.OPT_X_TLS_CACERTFILE] = ca_file
    require_cert = environ.get("LDAP_REQUIRE_CERT", "demand").strip().lower()
    levels = {"demand": ldap.OPT_X_TLS_DEMAND, "hard": ldap.OPT_X_TLS_HARD, "allow": ldap.OPT_X_TLS_ALLOW}
    levels["never"] = ldap.OPT_X_TLS_NEVER
    if require_cert not in levels:
        raise ValueError("LDAP_REQUIRE_CERT must be demand, hard, allow or never")
    options[ldap.OPT_X_TLS_REQUIRE_CERT] = levels[require_cert]
    # Makes python-ldap apply the TLS options above to this connection's new TLS context.
    options[ldap.OPT_X_TLS_NEWCTX] = 0

    attr_map = parse_pairs(
        environ.get("LDAP_USER_ATTR_MAP", "") or DEFAULT_LDAP_ATTR_MAP,
        allowed_keys=USER_FIELDS,
        name="LDAP_USER_ATTR_MAP",
        separator=",",
    )
    role_groups = parse_pairs(environ.get("LDAP_ROLE_GROUPS", ""), allowed_keys=_role_names(), name="LDAP_ROLE_GROUPS")
    return {
        "LDAP_ENABLED": True,
        "AUTH_LDAP_SERVER_URI": uri,
        "AUTH_LDAP_BIND_DN": environ.get("LDAP_BIND_DN", ""),
        "AUTH_LDAP_BIND_PASSWORD": _secret(environ, "LDAP_BIND_PASSWORD"),
        # Users are linked by their directory identity (objectGUID on AD, entryUUID on OpenLDAP, else the
        # DN), which a rename does not change; both are asked for explicitly (entryUUID is operational).
        "AUTH_LDAP_USER_SEARCH": config.LDAPSearch(search_base, ldap.SCOPE_SUBTREE, user_filter, LDAP_USER_ATTRS),
        "AUTH_LDAP_USER_ATTRLIST": LDAP_USER_ATTRS,
        "AUTH_LDAP_GROUP_SEARCH": config.LDAPSearch(group_base, ldap.SCOPE_SUBTREE, group_filter),
        "AUTH_LDAP_GROUP_TYPE": group_type,
        "AUTH_LDAP_START_TLS": _bool(environ.get("LDAP_START_TLS"), False),
        "AUTH_LDAP_CONNECTION_OPTIONS": options,
        "AUTH_LDAP_USER_ATTR_MAP": attr_map,
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
        "AUTH_LDAP_FIND_GROUP_PERMS": False,
        "AUTH_LDAP_CACHE_TIMEOUT": int(environ.get("LDAP_CACHE_SECONDS", "0")),
        "AUTH_LDAP_REQUIRE_GROUP": environ.get("LDAP_REQUIRE_GROUP", "").strip() or None,
        "LDAP_ROLE_GROUPS": role_groups,
    }


def oidc_settings(environ: Mapping[str, str]) -> dict:
    """mozilla-django-oidc settings; {'OIDC_ENABLED': False} when OIDC_RP_CLIENT_ID is unset.

    With OIDC_OP_ISSUER alone the endpoints are read from the issuer's discovery document on first use
    (accounts.oidc); explicit OIDC_OP_*_ENDPOINT variables win over discovery.
    """
    client_id = environ.get("OIDC_RP_CLIENT_ID", "").strip()
    base = {
        "OIDC_ENABLED": False,
        "OIDC_ROLE_GROUPS": {},
        "OIDC_PROVIDER_NAME": environ.get("OIDC_PROVIDER_NAME", "Microsoft"),
    }
    if not client_id:
        return base
    issuer = environ.get("OIDC_OP_ISSUER", "").strip().rstrip("/")
    endpoints = {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": environ.get("OIDC_OP_AUTHORIZATION_ENDPOINT", "").strip(),
        "OIDC_OP_TOKEN_ENDPOINT": environ.get("OIDC_OP_TOKEN_ENDPOINT", "").strip(),
        "OIDC_OP_USER_ENDPOINT": environ.get("OIDC_OP_USER_ENDPOINT", "").strip(),
        "OIDC_OP_JWKS_ENDPOINT": environ.get("OIDC_OP_JWKS_ENDPOINT", "").strip(),
        "OIDC_OP_END_SESSION_ENDPOINT": environ.get("OIDC_OP_END_SESSION_ENDPOINT", "").strip(),
    }
    required = ("OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT", "OIDC_OP_JWKS_ENDPOINT")
    if not issuer and not all(endpoints[name] for name in required):
        raise ValueError("OIDC_RP_CLIENT_ID needs OIDC_OP_ISSUER or the OIDC_OP_*_ENDPOINT variables")
    claim_map = parse_pairs(
        environ.get("OIDC_CLAIM_MAP", "") or DEFAULT_OIDC_CLAIM_MAP,
        allowed_keys=USER_FIELDS,
        name="OIDC_CLAIM_MAP",
        separator=",",
    )
    return (
        base
        | endpoints
        | {
            "OIDC_ENABLED": True,
            "OIDC_OP_ISSUER": issuer,
            "OIDC_RP_CLIENT_ID": client_id,
            "OIDC_RP_CLIENT_SECRET": _secret(environ, "OIDC_RP_CLIENT_SECRET"),
            "OIDC_RP_SIGN_ALGO": environ.get("OIDC_RP_SIGN_ALGO", "RS256"),
            "OIDC_RP_SCOPES": environ.get("OIDC_RP_SCOPES", "openid email profile"),
            "OIDC_USE_PKCE": _bool(environ.get("OIDC_USE_PKCE"), True),
            "OIDC_STORE_ID_TOKEN": True,  # needed for id_token_hint at logout
            "OIDC_USERNAME_CLAIM": environ.get("OIDC_USERNAME_CLAIM", "preferred_username"),
            "OIDC_GROUPS_CLAIM": environ.get("OIDC_GROUPS_CLAIM", "groups"),
            "OIDC_CLAIM_MAP": claim_map,
            "OIDC_ROLE_GROUPS": parse_pairs(
                environ.get("OIDC_ROLE_GROUPS", ""), allowed_keys=_role_names(), name="OIDC_ROLE_GROUPS"
            ),
            "OIDC_CREATE_USER": _bool(environ.get("OIDC_CREATE_USER"), True),
            "OIDC_TIMEOUT": int(environ.get("OIDC_TIMEOUT", "10")),
            "OIDC_VERIFY_SSL": _bool(environ.get("OIDC_VERIFY_SSL"), True),
            "OIDC_OP_LOGOUT_URL_METHOD": "accounts.oidc.provider_logout_url",
            "LOGIN_REDIRECT_URL_FAILURE": "/accounts/login/?error=oidc",
        }
    )


def sms_settings(environ: Mapping[str, str]) -> dict:
    """SMS gateway settings (accounts.sms); the console backend unless SMS_GATEWAY_URL is set."""
    url = environ.get("SMS_GATEWAY_URL", "").strip()
    return {
        "SMS_BACKEND": environ.get("SMS_BACKEND", "http" if url else "console"),
        "SMS_GATEWAY_URL": url,
        "SMS_GATEWAY_METHOD": environ.get("SMS_GATEWAY_METHOD", "POST").upper(),
        "SMS_GATEWAY_BODY": environ.get("SMS_GATEWAY_BODY", '{"to": "{phone}", "message": "{text}"}'),
        "SMS_GATEWAY_CONTENT_TYPE": environ.get("SMS_GATEWAY_CONTENT_TYPE", "application/json"),
        "SMS_GATEWAY_AUTH_HEADER": _secret(environ, "SMS_GATEWAY_AUTH_HEADER"),
        "SMS_GATEWAY_TIMEOUT": float(environ.get("SMS_GATEWAY_TIMEOUT", "10")),
        "SMS_SENDER": environ.get("SMS_SENDER", "dsign"),
    }
