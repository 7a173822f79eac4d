from django.contrib import admin
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy, gettext_noop

from .models import Branding


class _BrandedText:
    """Text with the organisation's current name in it, read each time the admin renders it (the name
    can change in the admin itself, so it is not fixed when the module loads)."""

    def __init__(self, template):
        self.template = template

    def __str__(self) -> str:
        from django.utils.translation import gettext

        from .selectors import branding_get

        return gettext(self.template) % {"name": branding_get().name}

    def __bool__(self) -> bool:
        return True


# gettext_noop: the templates are translated when rendered (in the request's language), not here.
admin.site.site_header = _BrandedText(gettext_noop("%(name)s — administration"))
admin.site.site_title = _BrandedText(gettext_noop("%(name)s administration"))
admin.site.index_title = gettext_lazy("Administration")


@admin.register(Branding)
class BrandingAdmin(admin.ModelAdmin):
    list_display = ["organisation_name", "organisation_name_en", "updated_at"]
    fields = ["organisation_name", "organisation_name_en", "logo", "emblem"]

    def has_add_permission(self, request) -> bool:
        return not Branding.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        # One row only: the list is a detour, go straight to the form.
        if Branding.objects.exists():
            return redirect("admin:branding_branding_change", 1)
        return redirect("admin:branding_branding_add")
