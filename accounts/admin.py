"""Admin of users, org units, MFA devices and the login history (read-only, for auditors).

Separation of duties: only superusers change is_superuser, is_staff, groups and permissions; nobody
sets another user's password here (a reset sends the user a link) or adds a device for them (devices
can only be removed, which makes the user enrol again). Every action calls a service in
accounts.services, which writes the audit event and tells the user.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.admin_views import ViewAuditedAdmin

from . import services
from .models import ApiToken, ExternalIdentity, LoginEvent, OrgUnit, SMSDevice, StepUp, User, WebAuthnDevice

# Fields that grant power; only a superuser edits them (read-only for everyone else, themselves included).
# The e-mail address is one of them: reset links, enrolment codes and e-mail OTP codes go there, so an
# admin who could change it could take the account over.
PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "groups", "user_permissions", "email")


@admin.register(OrgUnit)
class OrgUnitAdmin(admin.ModelAdmin):
    list_display = ["code", "name_th", "name_en", "parent"]
    search_fields = ["code", "name_th", "name_en"]
    list_select_related = ["parent"]
    raw_id_fields = ["parent"]


class UserInviteForm(forms.ModelForm):
    """A new account without a password: the user sets one through the link e-mailed to them."""

    class Meta:
        model = User
        fields = ["username", "email", "title_th", "first_name_th", "last_name_th", "first_name", "last_name"]

    def clean_email(self):
        email = self.cleaned_data.get("email", "")
        if not email:
            raise forms.ValidationError(_("An e-mail address is needed to send the link to set a password."))
        return email

    def save(self, commit=True):
        user = super().save(commit=False)
        user.set_unusable_password()
        if commit:
            user.save()
        return user


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "full_name_th", "email", "org_unit", "position", "is_active", "is_staff"]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups", "org_unit"]
    search_fields = ["username", "first_name", "last_name", "first_name_th", "last_name_th", "email"]
    list_select_related = ["org_unit"]
    raw_id_fields = ["org_unit"]
    # is_staff follows the role groups (accounts.services.staff_sync), so it is not edited by hand.
    readonly_fields = ["is_staff", "last_login", "date_joined"]
    actions = ["send_password_reset", "send_enrolment_code", "remove_mfa_devices", "unlock_sign_in"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("ชื่อภาษาไทย / Thai name", {"fields": ["title_th", "first_name_th", "last_name_th"]}),
        ("English name", {"fields": ["title_en", "first_name", "last_name"]}),
        ("หน่วยงาน / Organisation", {"fields": ["org_unit", "position", "email", "phone", "signature_image"]}),
        ("บทบาท / Roles", {"fields": ["is_active", "groups", "is_staff", "is_superuser", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    invite_fieldsets = [(None, {"fields": UserInviteForm.Meta.fields})]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # A new account gets its address from the admin who creates it (the invite goes there).
            locked = PRIVILEGE_FIELDS if obj is not None else tuple(f for f in PRIVILEGE_FIELDS if f != "email")
            fields += [name for name in locked if name not in fields]
        return fields

    def get_fieldsets(self, request, obj=None):
        if obj is None and not request.user.is_superuser:
            return self.invite_fieldsets
        return super().get_fieldsets(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None and not request.user.is_superuser:
            kwargs["form"] = UserInviteForm
            kwargs["fields"] = UserInviteForm.Meta.fields
            return admin.ModelAdmin.get_form(self, request, obj, **kwargs)
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        changed = set(form.changed_data) & set(PRIVILEGE_FIELDS)
        if changed and change and not request.user.is_superuser:
            # Read-only fields are not in the form, so this is a forged post: refuse it loudly.
            raise PermissionDenied(_("Only a superuser changes roles, staff status and permissions."))
        super().save_model(request, obj, form, change)
        if not change and not request.user.is_superuser:
            services.password_reset_link_send(user=obj, actor=request.user)
            messages.info(request, _("A link to set a password was e-mailed to %(user)s.") % {"user": obj.username})

    def save_related(self, request, form, formsets, change):
        if not request.user.is_superuser:
            form.cleaned_data.pop("groups", None)
            form.cleaned_data.pop("user_permissions", None)
        super().save_related(request, form, formsets, change)

    def user_change_password(self, request, id, form_url=""):
        # Setting someone's password lets the setter sign in as them; a reset link keeps it theirs.
        if not request.user.is_superuser:
            raise PermissionDenied(_("Send a password reset link instead; administrators do not set passwords."))
        return super().user_change_password(request, id, form_url)

    @admin.action(description=gettext_lazy("Send a link to set a new password"), permissions=["change"])
    def send_password_reset(self, request, queryset):
        self._each(request, queryset, services.password_reset_link_send, _("Link sent to %(user)s."))

    @admin.action(
        description=gettext_lazy("Send a one-time MFA enrolment code (to the user only)"), permissions=["change"]
    )
    def send_enrolment_code(self, request, queryset):
        self._each(request, queryset, services.enrolment_code_issue, _("Enrolment code e-mailed to %(user)s."))

    @admin.action(
        description=gettext_lazy("Remove all MFA devices (the user must enrol again)"), permissions=["change"]
    )
    def remove_mfa_devices(self, request, queryset):
        for user in queryset:
            removed = services.user_devices_remove_by_admin(user=user, actor=request.user)
            messages.success(request, _("%(user)s: %(n)s device(s) removed.") % {"user": user.username, "n": removed})

    @admin.action(description=gettext_lazy("Unlock sign-in (after too many wrong passwords)"), permissions=["change"])
    def unlock_sign_in(self, request, queryset):
        for user in queryset:
            services.login_unlock(username=user.username, actor=request.user)
            messages.success(request, _("%(user)s can sign in again.") % {"user": user.username})

    def _each(self, request, queryset, service, success: str) -> None:
        for user in queryset:
            try:
                service(user=user, actor=request.user)
            except services.MFAError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, success % {"user": user.username})


class DeviceRemoveOnlyAdmin(admin.ModelAdmin):
    """MFA devices are seen and removed here, never added or edited: a device an admin could set up
    would let the admin sign as its user."""

    list_display = ["user", "name", "confirmed"]
    list_select_related = ["user"]
    search_fields = ["user__username", "name"]
    raw_id_fields = ["user"]
    exclude = ["key", "token"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in ("key", "token", "id")]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        services.device_remove_by_admin(device=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for device in queryset:
            services.device_remove_by_admin(device=device, actor=request.user)


for _model in (TOTPDevice, StaticDevice, EmailDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, DeviceRemoveOnlyAdmin)
admin.site.register(SMSDevice, DeviceRemoveOnlyAdmin)
admin.site.register(WebAuthnDevice, DeviceRemoveOnlyAdmin)


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
class LoginEventAdmin(ViewAuditedAdmin, admin.ModelAdmin):
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
