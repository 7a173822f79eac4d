from django.contrib import admin
from django.shortcuts import redirect

from .models import Branding


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
