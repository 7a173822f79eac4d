"""Password rules beyond Django's validators."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class NoUsernameValidator:
    """Refuse a password that contains the username (in any case), whatever else it adds."""

    def validate(self, password, user=None):
        username = (getattr(user, "username", "") or "").strip().lower()
        if len(username) >= 3 and username in (password or "").lower():
            raise ValidationError(_("The password must not contain your username."), code="password_has_username")

    def get_help_text(self):
        return _("Your password must not contain your username.")
