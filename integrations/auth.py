"""Authentication and permissions for application clients.

`Authorization: Api-Key <key>` identifies the client; `X-On-Behalf-Of: <username>` names the user it acts
for, so everything it creates belongs to that user and the audit log says who asked through which system.
`request.auth` is the `ApiClient`; views state the scope each method needs in `application_scopes`, and a
method without one is closed to applications (deny by default).
"""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from audit.context import api_client_set

from .models import ApiClient
from .services import api_key_lookup, client_may_act_for

KEYWORD = "Api-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the key as `Authorization: Api-Key <key>`.")
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("The API key is not valid.") from exc
        client = api_key_lookup(raw_key=raw_key)
        if client is None:
            raise exceptions.AuthenticationFailed("The API key is not valid or has been revoked.")
        # Every event of this request (refusals included) names the client next to the user.
        api_client_set(str(client))
        username = request.headers.get("X-On-Behalf-Of", "").strip()
        if not username:
            raise exceptions.AuthenticationFailed("Name the user you act for in the X-On-Behalf-Of header.")
        user = acting_user(client=client, username=username)
        if user is None:
            raise exceptions.AuthenticationFailed(f"This application may not act for {username!r}.")
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=timezone.now())
        return user, client

    def authenticate_header(self, request) -> str:
        return KEYWORD


def acting_user(*, client: ApiClient, username: str):
    """The active user `client` may act for, or None (unknown, inactive, or not on the client's lists)."""
    from accounts.models import User

    user = User.objects.select_related("org_unit").filter(username=username, is_active=True).first()
    if user is None or not client_may_act_for(client=client, user=user):
        return None
    return user


def application_of(request) -> ApiClient | None:
    return request.auth if isinstance(request.auth, ApiClient) else None


class ApplicationScopes(permissions.BasePermission):
    """People pass; an application passes only with the scope the view names for the method."""

    message = "This application has no scope for this operation."

    def has_permission(self, request, view) -> bool:
        client = application_of(request)
        if client is None:
            return True
        scope = getattr(view, "application_scopes", {}).get(request.method)
        if scope is None:
            self.message = (
                "Applications cannot do this: approving, rejecting and signing need the signer's own "
                "credentials and MFA code."
            )
            return False
        if not client.has_scope(scope):
            self.message = f"This application lacks the {scope!r} scope."
            return False
        return True
