"""`Authorization: Token KEY` against hashed, expiring, revocable personal tokens (accounts.ApiToken)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from .services import api_token_authenticate


class HashedTokenAuthentication(authentication.TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key):
        token = api_token_authenticate(raw_key=key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("The token is not valid, has expired or was revoked."))
        return token.user, token
