"""OpenID Connect sign-in (Microsoft Entra ID or any OIDC provider) on top of mozilla-django-oidc.

What dsign adds to the library: endpoints read from the issuer's discovery document when only
OIDC_OP_ISSUER is given; users found by the token's issuer and subject (`oid` on Entra ID, else `sub`),
never by username or e-mail, and never silently on an existing local account (accounts.ExternalIdentity);
claims → user fields by OIDC_CLAIM_MAP; the groups claim → roles by OIDC_ROLE_GROUPS; issuer and audience
checks on the ID token (the library checks signature, expiry and nonce); logout at the provider.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView, OIDCLogoutView

from .models import ExternalIdentity, Role
from .services import IdentityConflict, external_identity_link, external_identity_user, user_roles_set

logger = logging.getLogger(__name__)
DISCOVERY_KEYS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_END_SESSION_ENDPOINT": "end_session_endpoint",
}
_DISCOVERY_TTL = 3600
_discovery: dict[str, tuple[float, dict]] = {}
_discovery_lock = threading.Lock()


def discovery_document(issuer: str) -> dict:
    """The provider's /.well-known/openid-configuration, cached for an hour per issuer."""
    with _discovery_lock:
        cached = _discovery.get(issuer)
        if cached and time.monotonic() - cached[0] < _DISCOVERY_TTL:
            return cached[1]
    response = requests.get(
        f"{issuer}/.well-known/openid-configuration",
        timeout=getattr(settings, "OIDC_TIMEOUT", 10),
        verify=getattr(settings, "OIDC_VERIFY_SSL", True),
    )
    response.raise_for_status()
    document = response.json()
    if document.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        raise SuspiciousOperation("The OIDC discovery document names another issuer.")
    with _discovery_lock:
        _discovery[issuer] = (time.monotonic(), document)
    return document


def oidc_setting(attr: str, *args):
    """A mozilla-django-oidc setting; endpoints fall back to the issuer's discovery document."""
    if attr in DISCOVERY_KEYS and not getattr(settings, attr, ""):
        issuer = getattr(settings, "OIDC_OP_ISSUER", "")
        if issuer:
            value = discovery_document(issuer).get(DISCOVERY_KEYS[attr])
            if value:
                return value
        if args:
            return args[0]
    return import_from_settings(attr, *args)


def roles_for_groups(*, groups: list[str], role_groups: dict[str, str]) -> set[str]:
    member_of = {str(g).strip().lower() for g in groups}
    return {role for role, group in role_groups.items() if group.strip().lower() in member_of}


class OIDCBackend(OIDCAuthenticationBackend):
    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        # Django builds backends for every sign-in and request; endpoints are resolved only when an OIDC
        # login actually runs, so a provider that is down never breaks local or LDAP sign-in.
        from django.contrib.auth import get_user_model

        self.OIDC_RP_CLIENT_ID = self.get_settings("OIDC_RP_CLIENT_ID")
        self.OIDC_RP_CLIENT_SECRET = self.get_settings("OIDC_RP_CLIENT_SECRET")
        self.OIDC_RP_SIGN_ALGO = self.get_settings("OIDC_RP_SIGN_ALGO", "RS256")
        self.OIDC_RP_IDP_SIGN_KEY = self.get_settings("OIDC_RP_IDP_SIGN_KEY", None)
        self.UserModel = get_user_model()

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self):  # noqa: N802 - the library's attribute name
        return self.get_settings("OIDC_OP_TOKEN_ENDPOINT")

    @property
    def OIDC_OP_USER_ENDPOINT(self):  # noqa: N802
        return self.get_settings("OIDC_OP_USER_ENDPOINT", "")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self):  # noqa: N802
        return self.get_settings("OIDC_OP_JWKS_ENDPOINT", None)

    def authenticate(self, request, **kwargs):
        # A provider that refuses the code or answers with a bad token is a failed sign-in (audited by
        # Django's user_login_failed), not a server error.
        try:
            return super().authenticate(request, **kwargs)
        except (requests.RequestException, SuspiciousOperation, ValueError) as exc:
            logger.warning("OIDC sign-in failed: %s", exc)
            return None

    def get_userinfo(self, access_token, id_token, payload):
        # Entra puts groups in the ID token and not in userinfo (Graph), so the two are merged.
        claims = {k: v for k, v in payload.items() if k not in {"aud", "exp", "iat", "nonce", "auth_time"}}
        if self.OIDC_OP_USER_ENDPOINT:
            claims.update(super().get_userinfo(access_token, id_token, payload))
        return claims

    def get_or_create_user(self, access_token, id_token, payload):
        issuer = self.get_settings("OIDC_OP_ISSUER", "")
        if issuer and str(payload.get("iss", "")).rstrip("/") != issuer.rstrip("/"):
            raise SuspiciousOperation("The ID token comes from another issuer.")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token is not meant for this application.")
        claims = self.get_userinfo(access_token, id_token, payload)
        if not self.verify_claims(claims):
            raise SuspiciousOperation("The ID token lacks the subject or the username claim.")
        # The account is found by who the provider says it is (issuer + subject), never by username.
        subject = str(payload.get("oid") or payload.get("sub"))
        try:
            user, create = external_identity_user(
                provider=ExternalIdentity.Provider.OIDC,
                issuer=str(payload.get("iss", "")).rstrip("/"),
                subject=subject,
                username=self._username(claims),
            )
        except IdentityConflict as exc:
            raise SuspiciousOperation(str(exc)) from exc
        if user is not None:
            return self.update_user(user, claims)
        if not self.get_settings("OIDC_CREATE_USER", True):
            return None
        user = self.create_user(claims)
        external_identity_link(
            user=user,
            provider=ExternalIdentity.Provider.OIDC,
            issuer=str(payload.get("iss", "")).rstrip("/"),
            subject=subject,
        )
        return user

    def _username(self, claims) -> str:
        return str(claims.get(self.get_settings("OIDC_USERNAME_CLAIM", "preferred_username")) or "").strip()[:150]

    def verify_claims(self, claims):
        return bool(self._username(claims) and claims.get("sub"))

    def describe_user_by_claims(self, claims):
        return f"username {self._username(claims)}"

    def create_user(self, claims):
        user = self.UserModel(username=self._username(claims))
        user.set_unusable_password()
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        for field, claim in self.get_settings("OIDC_CLAIM_MAP", {}).items():
            value = claims.get(claim)
            if isinstance(value, str) and value.strip():
                setattr(user, field, value.strip()[: user._meta.get_field(field).max_length])
        user.save()
        role_groups: dict[str, str] = self.get_settings("OIDC_ROLE_GROUPS", {})
        groups = claims.get(self.get_settings("OIDC_GROUPS_CLAIM", "groups")) or []
        if isinstance(groups, str):
            groups = [groups]
        roles = roles_for_groups(groups=list(groups), role_groups=role_groups) | {Role.OFFICE_USER}
        user_roles_set(user=user, roles=roles, managed=set(role_groups) | {Role.OFFICE_USER}, source="oidc")
        return user


class _OnlyWhenEnabled:
    """With SSO off the routes do not exist (404), instead of failing on missing settings (500)."""

    def dispatch(self, request, *args, **kwargs):
        if not getattr(settings, "OIDC_ENABLED", False):
            raise Http404("single sign-on is not configured")
        return super().dispatch(request, *args, **kwargs)


class AuthenticationRequestView(_OnlyWhenEnabled, OIDCAuthenticationRequestView):
    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        # The library reads its settings here; with SSO off there are none to read.
        if getattr(settings, "OIDC_ENABLED", False):
            super().__init__(*args, **kwargs)


class AuthenticationCallbackView(_OnlyWhenEnabled, OIDCAuthenticationCallbackView):
    get_settings = staticmethod(oidc_setting)


class LogoutView(_OnlyWhenEnabled, OIDCLogoutView):
    get_settings = staticmethod(oidc_setting)


def provider_logout_url(request) -> str:
    """Where OIDCLogoutView sends the browser: the provider's end-session endpoint, when it has one."""
    after = request.build_absolute_uri(str(getattr(settings, "LOGOUT_REDIRECT_URL", "/")))
    endpoint = oidc_setting("OIDC_OP_END_SESSION_ENDPOINT", "")
    if not endpoint:
        return after
    params = {"post_logout_redirect_uri": after, "client_id": settings.OIDC_RP_CLIENT_ID}
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}?{urlencode(params)}"
