"""The CA officer's console: certificates (enrol, CSR, import, resend, revoke, renew), trust roots, CAs.

Every button and action parses its input and calls one service in certificates.services; the services
write the audit events.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import utils as admin_utils
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy

from accounts.models import OrgUnit, User
from audit.admin_views import ViewAuditedAdmin
from core.errors import DomainError

from . import external, selectors, services
from .errors import CertificateError
from .models import Certificate, CertificateAuthority, CertificateStatus, ExpiryNotice, TrustRoot

MAX_CERTIFICATE_UPLOAD = 1 << 20
ALGORITHMS = [("", gettext_lazy("default")), ("ec-p256", "EC P-256"), ("ec-p384", "EC P-384"), ("rsa2048", "RSA 2048"),
              ("rsa3072", "RSA 3072")]  # fmt: skip


class ExpiringWithinFilter(admin.SimpleListFilter):
    title = gettext_lazy("expiring within")
    parameter_name = "expiring_within"

    def lookups(self, request, model_admin):
        return [(days, gettext("%(days)s days") % {"days": days}) for days in ("7", "30", "60", "90")]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return selectors.certificates_filter(queryset=queryset, expiring_within=int(value))
        return queryset


class ExpiryNoticeInline(admin.TabularInline):
    model = ExpiryNotice
    extra = 0
    can_delete = False
    readonly_fields = ["days_before", "created_at", "attempted_at", "attempts", "sent_at", "error"]

    def has_add_permission(self, request, obj=None):
        return False


class RevokeForm(forms.Form):
    reason = forms.ChoiceField(
        label=gettext_lazy("reason"), choices=[(r, r.replace("_", " ")) for r in services.REVOCATION_REASONS]
    )


class EnrolForm(forms.Form):
    users = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"), required=False, label=gettext_lazy("users")
    )
    org_unit = forms.ModelChoiceField(
        queryset=OrgUnit.objects.all(),
        required=False,
        label=gettext_lazy("org unit"),
        help_text=gettext_lazy("or a whole unit"),
    )
    include_sub_units = forms.BooleanField(
        required=False, initial=True, label=gettext_lazy("include the units below it")
    )
    algorithm = forms.ChoiceField(choices=ALGORITHMS, required=False, label=gettext_lazy("key algorithm"))

    def clean(self):
        data = super().clean()
        if not data.get("users") and not data.get("org_unit"):
            raise forms.ValidationError(gettext("Choose users or an org unit."))
        return data


class CsrForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"), label=gettext_lazy("user")
    )
    algorithm = forms.ChoiceField(choices=ALGORITHMS, required=False, label=gettext_lazy("key algorithm"))


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("file"),
        help_text=gettext_lazy("the certificate the CA issued, with its chain: PEM, DER or PKCS#7"),
    )


class Pkcs12Form(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"), label=gettext_lazy("user")
    )
    file = forms.FileField(
        label=gettext_lazy("file"),
        help_text=gettext_lazy("PKCS#12 (.p12/.pfx) with the certificate and its private key"),
    )
    password = forms.CharField(widget=forms.PasswordInput, required=False, label=gettext_lazy("password"))


def _read(upload) -> bytes:
    if upload.size > MAX_CERTIFICATE_UPLOAD:
        raise CertificateError("The file is too large for a certificate.")
    return upload.read()


@admin.register(Certificate)
class CertificateAdmin(ViewAuditedAdmin, admin.ModelAdmin):
    list_display = ["subject_cn", "user", "org_unit", "status", "source", "identity_proofing_level", "serial_number",
                    "issuer_cn", "created_at", "not_after", "days_left"]  # fmt: skip
    list_filter = ["status", "source", ("user__org_unit", admin.RelatedOnlyFieldListFilter), ExpiringWithinFilter]
    search_fields = ["subject_cn", "serial_number", "user__username", "user__email", "user__first_name_th",
                     "user__last_name_th", "issuer_cn"]  # fmt: skip
    list_select_related = ["user", "user__org_unit"]
    raw_id_fields = ["user", "superseded_by"]
    date_hierarchy = "not_after"
    inlines = [ExpiryNoticeInline]
    actions = ["resend_agreement", "revoke", "renew"]
    change_list_template = "certificates/admin/change_list.html"
    change_form_template = "certificates/admin/change_form.html"
    exclude = ["certificate_der", "agreement_token"]
    show_full_result_count = False

    # The CA officer records how the holder's identity was proofed (IAL); templates may require a level.
    PROOFING_FIELDS = ("identity_proofing_level", "identity_proofing_method", "identity_proofing_reference")

    def get_readonly_fields(self, request, obj=None):
        editable = self.PROOFING_FIELDS if selectors.user_manages_certificates(request.user) else ()
        return [f.name for f in Certificate._meta.fields if f.name not in self.exclude and f.name not in editable]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("org unit"), ordering="user__org_unit__code")
    def org_unit(self, obj):
        return obj.user.org_unit

    @admin.display(description=gettext_lazy("days left"))
    def days_left(self, obj):
        if not obj.not_after or obj.status not in (CertificateStatus.ACTIVE, CertificateStatus.PENDING_ACCEPTANCE):
            return "—"
        return max((obj.not_after - timezone.now()) // timedelta(days=1), 0)

    def _officer(self, request) -> None:
        if not selectors.user_manages_certificates(request.user):
            raise PermissionDenied(gettext("Only a CA officer manages certificates; IT admins can view them."))

    # --- actions on selected certificates ---

    @admin.action(description=gettext_lazy("Resend the subscriber agreement e-mail"))
    def resend_agreement(self, request, queryset):
        self._officer(request)
        for cert in queryset:
            try:
                services.agreement_resend(certificate=cert, actor=request.user)
                messages.success(request, gettext("Agreement e-mail sent again for %(cert)s.") % {"cert": cert})
            except DomainError as exc:
                messages.error(request, f"{cert}: {exc}")

    @admin.action(description=gettext_lazy("Revoke (asks for the reason)"))
    def revoke(self, request, queryset):
        self._officer(request)
        form = RevokeForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            for cert in queryset:
                try:
                    services.certificate_revoke(
                        certificate=cert, actor=request.user, reason=form.cleaned_data["reason"]
                    )
                    messages.success(request, gettext("Revoked %(cert)s.") % {"cert": cert})
                except DomainError as exc:
                    messages.error(request, f"{cert}: {exc}")
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Revoke certificates"),
            "form": form,
            "certificates": queryset,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "certificates/admin/revoke.html", context)

    @admin.action(description=gettext_lazy("Renew (new key; the old one is superseded once the new one is accepted)"))
    def renew(self, request, queryset):
        self._officer(request)
        for cert in queryset:
            try:
                new = services.certificate_renew(certificate=cert, actor=request.user)
                messages.success(
                    request,
                    gettext("Renewed %(cert)s: new certificate #%(pk)s (%(status)s).")
                    % {"cert": cert, "pk": new.pk, "status": new.get_status_display()},
                )
            except DomainError as exc:
                messages.error(request, f"{cert}: {exc}")

    # --- pages for what has no certificate row yet ---

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("enrol/", view(self.enrol_view), name="certificates_certificate_enrol"),
            path("request-csr/", view(self.csr_request_view), name="certificates_certificate_request_csr"),
            path("import-pkcs12/", view(self.pkcs12_view), name="certificates_certificate_import_pkcs12"),
            path("<int:pk>/csr/", view(self.csr_download_view), name="certificates_certificate_csr"),
            path("<int:pk>/import/", view(self.import_view), name="certificates_certificate_import"),
            *super().get_urls(),
        ]

    def _page(self, request, title: str, form, *, submit: str = ""):
        context = {**self.admin_site.each_context(request), "title": title, "form": form,
                   "submit": submit or gettext("Submit"), "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "certificates/admin/form.html", context)

    def _changelist(self):
        return HttpResponseRedirect(reverse("admin:certificates_certificate_changelist"))

    def enrol_view(self, request):
        self._officer(request)
        form = EnrolForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            algorithm = data["algorithm"] or None
            if data["org_unit"]:
                result = services.certificates_issue_for_org_unit(
                    org_unit=data["org_unit"], actor=request.user, include_sub_units=data["include_sub_units"],
                    algorithm=algorithm,
                )  # fmt: skip
            else:
                result = services.certificates_issue_for_users(
                    users=data["users"], actor=request.user, algorithm=algorithm
                )
            messages.success(
                request, gettext("Issued %(n)s certificate(s); agreement e-mails sent.") % {"n": len(result.issued)}
            )
            if result.skipped:
                messages.info(request, gettext("Skipped (already hold one, or inactive): ") + ", ".join(result.skipped))
            for username, error in result.failed.items():
                messages.error(request, f"{username}: {error}")
            return self._changelist()
        return self._page(request, gettext("Issue certificates (internal CA)"), form, submit=gettext("Issue"))

    def csr_request_view(self, request):
        self._officer(request)
        form = CsrForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            cert = services.certificate_request_external(
                user=form.cleaned_data["user"], actor=request.user, algorithm=form.cleaned_data["algorithm"] or None
            )
            messages.success(request, gettext("Key generated in the HSM; download the CSR and send it to the CA."))
            return HttpResponseRedirect(reverse("admin:certificates_certificate_change", args=[cert.pk]))
        return self._page(
            request, gettext("Request a certificate from an external CA (CSR)"), form, submit=gettext("Generate")
        )

    def csr_download_view(self, request, pk: int):
        self._officer(request)
        cert = get_object_or_404(Certificate, pk=pk)
        if not cert.csr_pem:
            raise PermissionDenied(gettext("This certificate has no CSR."))
        response = HttpResponse(cert.csr_pem, content_type="application/pkcs10")
        response["Content-Disposition"] = f'attachment; filename="dsign-{cert.user.username}-{cert.pk}.csr"'
        return response

    def import_view(self, request, pk: int):
        self._officer(request)
        cert = get_object_or_404(Certificate, pk=pk)
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                external.certificate_import_issued(certificate=cert, data=_read(form.cleaned_data["file"]),
                                                   actor=request.user)  # fmt: skip
            except DomainError as exc:
                form.add_error("file", str(exc))
            else:
                messages.success(request, gettext("Imported; the holder was asked to accept the subscriber agreement."))
                return HttpResponseRedirect(reverse("admin:certificates_certificate_change", args=[cert.pk]))
        return self._page(
            request,
            gettext("Import the issued certificate for %(user)s") % {"user": cert.user},
            form,
            submit=gettext("Import"),
        )

    def pkcs12_view(self, request):
        self._officer(request)
        form = Pkcs12Form(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                cert = external.certificate_import_pkcs12(
                    user=form.cleaned_data["user"], data=_read(form.cleaned_data["file"]),
                    password=form.cleaned_data["password"], actor=request.user,
                )  # fmt: skip
            except DomainError as exc:
                form.add_error("file", str(exc))
            else:
                messages.success(
                    request, gettext("The key is now in the HSM (non-extractable); agreement e-mail sent.")
                )
                return HttpResponseRedirect(reverse("admin:certificates_certificate_change", args=[cert.pk]))
        return self._page(request, gettext("Import a PKCS#12 file"), form, submit=gettext("Import"))


class TrustRootForm(forms.ModelForm):
    certificate_file = forms.FileField(
        required=False,
        label=gettext_lazy("certificate file"),
        help_text=gettext_lazy("the root certificate, PEM or DER"),
    )

    class Meta:
        model = TrustRoot
        fields = ["name", "source", "enabled"]

    def clean(self):
        data = super().clean()
        if self.instance.pk is None:
            upload = data.get("certificate_file")
            if not upload:
                raise forms.ValidationError(gettext("Upload the root certificate."))
            try:
                self.certificate_bytes = _read(upload)
                external.trust_root_parse(self.certificate_bytes)
            except DomainError as exc:
                raise forms.ValidationError(str(exc))
        return data


@admin.register(TrustRoot)
class TrustRootAdmin(ViewAuditedAdmin, admin.ModelAdmin):
    form = TrustRootForm
    list_display = ["name", "source", "enabled", "approval", "subject", "not_after", "fingerprint_sha256",
                    "created_at"]  # fmt: skip
    list_filter = ["source", "enabled"]
    search_fields = ["name", "fingerprint_sha256"]
    actions = ["approve", "enable", "disable"]

    def get_readonly_fields(self, request, obj=None):
        if obj:
            return ["name", "source", "fingerprint_sha256", "subject", "not_after", "added_by", "approved_by",
                    "approved_at"]  # fmt: skip
        return []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "source", "enabled", "certificate_file"]
        return ["name", "source", "enabled", "subject", "not_after", "fingerprint_sha256", "added_by", "approved_by",
                "approved_at"]  # fmt: skip

    @admin.display(description=gettext_lazy("approval (four eyes)"))
    def approval(self, obj):
        if obj.approved:
            if obj.approved_by:
                return gettext("approved by %(user)s") % {"user": obj.approved_by.username}
            return gettext("approved")
        return gettext("waiting for a second CA officer; not used yet")

    @admin.action(description=gettext_lazy("Approve the selected roots (a second CA officer)"))
    def approve(self, request, queryset):
        for root in queryset:
            try:
                external.trust_root_approve(trust_root=root, actor=request.user)
                messages.success(
                    request, gettext("Approved %(root)s; signatures may now chain to it.") % {"root": root}
                )
            except PermissionDenied as exc:
                messages.error(request, f"{root}: {exc}")

    @admin.display(description=gettext_lazy("subject"))
    def subject(self, obj):
        return obj.certificate.subject.human_friendly

    @admin.display(description=gettext_lazy("expires at"))
    def not_after(self, obj):
        # admin_utils at call time: read-only callables are not formatted by the admin (dsign.admin_thai).
        return admin_utils.display_for_value(obj.certificate.not_valid_after, self.get_empty_value_display())

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not selectors.user_manages_certificates(request.user):
            raise PermissionDenied(gettext("Only a CA officer manages trust roots."))
        if change:
            external.trust_root_set_enabled(trust_root=obj, enabled=form.cleaned_data["enabled"], actor=request.user)
            return
        root = external.trust_root_add(
            name=obj.name, source=obj.source, data=form.certificate_bytes, actor=request.user, enabled=obj.enabled
        )
        obj.pk, obj.certificate_der, obj.fingerprint_sha256 = root.pk, root.certificate_der, root.fingerprint_sha256
        obj.added_by, obj.approved_at = root.added_by, root.approved_at
        obj._state.adding = False
        if not root.approved:
            messages.warning(request, gettext("The root waits for a second CA officer's approval before it is used."))

    @admin.action(description=gettext_lazy("Enable the selected roots"))
    def enable(self, request, queryset):
        for root in queryset:
            external.trust_root_set_enabled(trust_root=root, enabled=True, actor=request.user)

    @admin.action(description=gettext_lazy("Disable the selected roots"))
    def disable(self, request, queryset):
        for root in queryset:
            external.trust_root_set_enabled(trust_root=root, enabled=False, actor=request.user)


@admin.register(CertificateAuthority)
class CertificateAuthorityAdmin(admin.ModelAdmin):
    list_display = ["kind", "common_name", "key_label", "crl_next_update", "created_at", "download"]
    readonly_fields = ["kind", "common_name", "key_label", "parent", "crl_number", "crl_next_update", "created_at"]
    exclude = ["certificate_der", "crl_der"]

    @admin.display(description=gettext_lazy("certificate"))
    def download(self, obj):
        if obj.kind in ("root", "issuing"):
            return format_html('<a href="{}">{}.crt</a>', reverse("pki-ca", args=[obj.kind]), obj.kind)
        return "—"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
