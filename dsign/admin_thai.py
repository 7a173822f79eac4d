"""The admin console in Thai: Buddhist-era dates in Thailand's time wherever the admin shows a date.

Django's admin formats every date it shows (list columns, read-only and view-only fields, inlines, callables
returning a date) through ``display_for_field`` / ``display_for_value``, which write the Common Era. Those
two are wrapped here, once for every ModelAdmin (ours and django-otp's, axes', django-q2's), so a date goes
through core.thai, the one formatter, when the page is in Thai; in English the admin keeps Django's format.
The date hierarchy's year links are rewritten by the ``be_years`` filter (templates/admin/date_hierarchy.html).

Some installed apps name their models and fields in plain English (django-otp, the apps' own labels);
``relabel`` wraps those names in gettext_lazy with the same English text, so locale/th translates them.
Migrations do not see it: they read the names a model was declared with, and in English they are unchanged.
"""

from __future__ import annotations

import datetime
import re

from django.apps import apps
from django.contrib.admin import helpers, utils
from django.contrib.admin.templatetags import admin_list
from django.db import models
from django.utils.functional import Promise
from django.utils.translation import get_language, gettext_lazy

from core.thai import BUDDHIST_ERA_OFFSET, format_thai_datetime

_django_display_for_field = utils.display_for_field
_django_display_for_value = utils.display_for_value


def _in_thai() -> bool:
    return (get_language() or "th").startswith("th")


def thai_display_for_field(value, field, empty_value_display, avoid_link=False):
    if (
        _in_thai()
        and isinstance(field, models.DateField)  # DateTimeField too
        and not getattr(field, "flatchoices", None)
        and isinstance(value, datetime.date)
    ):
        return format_thai_datetime(value)
    return _django_display_for_field(value, field, empty_value_display, avoid_link=avoid_link)


def thai_display_for_value(value, empty_value_display, boolean=False):
    if not boolean and _in_thai() and isinstance(value, datetime.date):
        return format_thai_datetime(value)
    return _django_display_for_value(value, empty_value_display, boolean=boolean)


_YEAR = re.compile(r"\b(1[89]\d\d|2[0-3]\d\d)\b")


def be_years(text) -> str:
    """A date hierarchy title ("2026", "ธันวาคม 2026") with its Common-Era year written in the Buddhist era."""
    text = str(text)
    if not _in_thai():
        return text
    return _YEAR.sub(lambda m: str(int(m.group(1)) + BUDDHIST_ERA_OFFSET), text)


# Installed apps whose names are English only, and the models (ours too: inherited fields) whose field
# names and help texts are.
RELABEL_APPS = ("contenttypes", "staticfiles", "django_otp", "otp_totp", "otp_static", "otp_email", "axes", "django_q")
APP_NAMES = {
    "django_otp": "Two-factor authentication",
    "otp_totp": "Authenticator apps (TOTP)",
    "otp_static": "Backup codes",
    "otp_email": "E-mail codes",
    "axes": "Sign-in lockout",
    "contenttypes": "Content types",
    "staticfiles": "Static files",
    "django_q": "Background tasks",
}
RELABEL_MODELS = (
    "otp_totp.TOTPDevice",
    "otp_static.StaticDevice",
    "otp_static.StaticToken",
    "otp_email.EmailDevice",
    "accounts.SMSDevice",
    "accounts.WebAuthnDevice",
)


def _lazy(text):
    return text if isinstance(text, Promise) or not text else gettext_lazy(str(text))


def relabel() -> None:
    for label in RELABEL_APPS:
        if label in apps.app_configs:
            config = apps.get_app_config(label)
            config.verbose_name = gettext_lazy(APP_NAMES.get(label, config.verbose_name))
    for label in RELABEL_MODELS:
        model = apps.get_model(label)
        if model._meta.app_label in RELABEL_APPS:
            # str(): the plural Django derived is format_lazy("{}s", name), a promise that gettext never sees.
            model._meta.verbose_name = gettext_lazy(str(model._meta.verbose_name))
            model._meta.verbose_name_plural = gettext_lazy(str(model._meta.verbose_name_plural))
        for field in model._meta.fields:
            field.verbose_name = _lazy(field.verbose_name)
            field.help_text = _lazy(field.help_text)


def _named_rows() -> None:
    """Rows of installed apps that name themselves in English with a Common-Era timestamp, or not at all
    ("OrmQ object (3)"): named here in the page's language, with core.thai's date."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.utils.translation import gettext
    from django_q.models import OrmQ

    def when(moment) -> str:
        return format_thai_datetime(moment) if _in_thai() and moment else str(moment)

    AccessFailureLog.__str__ = lambda row: (
        gettext("Failed sign-in of %(user)s from %(ip)s — %(when)s")
        % {
            "user": row.username,
            "ip": row.ip_address,
            "when": when(row.attempt_time),
        }
    )
    AccessAttempt.__str__ = lambda row: (
        gettext("Sign-in attempts of %(user)s — %(when)s")
        % {
            "user": row.username,
            "when": when(row.attempt_time),
        }
    )
    AccessLog.__str__ = lambda row: (
        gettext("Sign-in of %(user)s — %(when)s")
        % {
            "user": row.username,
            "when": when(row.attempt_time),
        }
    )

    def queued(row) -> str:
        try:
            name = row.name()
        except Exception:  # an unreadable package still needs a name in the list
            name = row.key
        return gettext("queued task %(name)s") % {"name": name}

    OrmQ.__str__ = queued


def install() -> None:
    """Called once from DsignConfig.ready(): the admin modules bound Django's functions at import."""
    relabel()
    _named_rows()
    for module in (utils, helpers, admin_list):
        if hasattr(module, "display_for_field"):
            module.display_for_field = thai_display_for_field
        if hasattr(module, "display_for_value"):
            module.display_for_value = thai_display_for_value
