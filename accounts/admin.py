"""Admin of users, org units and the login history (read-only, for auditors)."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from . import services
from .models import ApiToken, ExternalIdentity, LoginEvent, OrgUnit, SMSDevice, StepUp, User


@admin.register(OrgUnit)
class OrgUnitAdmin(admin.ModelAdmin):
    list_display = ["code", "name_th", "name_en", "parent"]
    search_fields = ["code", "name_th", "name_en"]
    list_select_related = ["parent"]
    raw_id_fields = ["parent"]


class SMSDeviceInline(admin.TabularInline):
    model = SMSDevice
    fields = ["name", "phone", "confirmed", "throttling_failure_count"]
    readonly_fields = ["throttling_failure_count"]
    extra = 0


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "full_name_th", "email", "org_unit", "position", "is_active", "is_staff"]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups", "org_unit"]
    search_fields = ["username", "first_name", "last_name", "first_name_th", "last_name_th", "email"]
    list_select_related = ["org_unit"]
    raw_id_fields = ["org_unit"]
    # is_staff follows the role groups (accounts.services.staff_sync), so it is not edited by hand.
    readonly_fields = ["is_staff", "last_login", "date_joined"]
    inlines = [SMSDeviceInline]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("ชื่อภาษาไทย / Thai name", {"fields": ["title_th", "first_name_th", "last_name_th"]}),
        ("English name", {"fields": ["title_en", "first_name", "last_name"]}),
        ("หน่วยงาน / Organisation", {"fields": ["org_unit", "position", "email", "phone", "signature_image"]}),
        ("บทบาท / Roles", {"fields": ["is_active", "groups", "is_staff", "is_superuser", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]


@admin.register(StepUp)
class StepUpAdmin(admin.ModelAdmin):
    list_display = ["user", "verified_at", "purpose", "device"]
    list_select_related = ["user"]
    search_fields = ["user__username"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(LoginEvent)
class LoginEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_repr", "action", "method", "outcome", "ip_address", "user_agent"]
    list_filter = ["action", "outcome"]
    search_fields = ["actor_repr", "ip_address"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_per_page = 100

    def get_queryset(self, request):
        return super().get_queryset(request).filter(action__in=LoginEvent.ACTIONS)

    @admin.display(description="method")
    def method(self, obj):
        return (obj.details or {}).get("method", "")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Personal API tokens: only their hashes exist, so the console lists and revokes, never shows keys."""

    list_display = ["key_prefix", "user", "name", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["=key_prefix", "user__username"]
    list_select_related = ["user"]
    fields = ["user", "key_prefix", "name", "created_at", "expires_at", "last_used_at", "revoked_at", "revoked_reason"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # tokens are minted by drf_create_token, which prints the key once

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            services.api_token_revoke(token=token, actor=request.user, reason="revoked in the admin")


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    """Directory and SSO accounts and the users they sign in as. An identity that collides with an
    existing account is refused at sign-in (accounts.identity_conflict); linking it here is the deliberate,
    audited way to let it in."""

    list_display = ["user", "provider", "issuer", "subject", "created_at", "last_login_at"]
    list_filter = ["provider"]
    search_fields = ["user__username", "=subject", "issuer"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at", "last_login_at"]
