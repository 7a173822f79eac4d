"""The organisation's name, logo and emblem: one row, edited in admin, shown on every page, e-mail and memo."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Branding(models.Model):
    """A singleton (pk is always 1); `branding.selectors.branding_get` returns it or the defaults."""

    organisation_name = models.CharField(_("organisation name"), max_length=200, default="")
    organisation_name_en = models.CharField(_("organisation name in English"), max_length=200, blank=True)
    logo = models.ImageField(
        _("logo"), upload_to="branding/", blank=True, help_text=_("PNG or JPEG, shown in the header and e-mails")
    )
    emblem = models.ImageField(
        _("emblem"), upload_to="branding/", blank=True, help_text=_("PNG or JPEG, printed 1.5 cm high on memos")
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("branding")
        verbose_name_plural = _("branding")

    def __str__(self) -> str:
        return self.organisation_name or "dsign"

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)
