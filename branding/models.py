"""The organisation's name, logo and emblem: one row, edited in admin, shown on every page, e-mail and memo."""

from django.db import models


class Branding(models.Model):
    """A singleton (pk is always 1); `branding.selectors.branding_get` returns it or the defaults."""

    organisation_name = models.CharField("ชื่อหน่วยงาน / Organisation name", max_length=200, default="")
    organisation_name_en = models.CharField("ชื่อหน่วยงาน (อังกฤษ) / Name in English", max_length=200, blank=True)
    logo = models.ImageField(
        "โลโก้ / Logo", upload_to="branding/", blank=True, help_text="PNG or JPEG, shown in the header and e-mails"
    )
    emblem = models.ImageField(
        "ตราครุฑ / Emblem", upload_to="branding/", blank=True, help_text="PNG or JPEG, printed 1.5 cm high on memos"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "ตราและชื่อหน่วยงาน / Branding"
        verbose_name_plural = "ตราและชื่อหน่วยงาน / Branding"

    def __str__(self) -> str:
        return self.organisation_name or "dsign"

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)
