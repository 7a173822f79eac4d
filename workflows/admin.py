"""The IT admin's console for workflows: templates with their tiers, a read-only view of documents with
the admin actions that call services (cancel, reassign a seat), and delegations."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template import engines
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import User

from . import selectors, services
from .models import (
    Assignment,
    AssignmentStatus,
    Delegation,
    Document,
    DocumentVersion,
    RouteTier,
    SendRegister,
    TemplateTier,
    WorkflowTemplate,
)


class TemplateTierInline(admin.StackedInline):
    model = TemplateTier
    extra = 0
    min_num = 1
    ordering = ["order"]
    filter_horizontal = ["signers"]
    raw_id_fields = ["rule_org_unit"]
    fields = [
        "order",
        "name",
        "quorum",
        "due_hours",
        "requester_signs",
        "signers",
        ("rule_position", "rule_org_unit"),
    ]


@admin.register(WorkflowTemplate)
class WorkflowTemplateAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "document_type",
        "pades_level",
        "min_aal",
        "min_ial",
        "allow_multiple_seats",
        "active",
    ]
    list_filter = ["active", "pades_level", "document_type", "min_aal", "min_ial"]
    search_fields = ["code", "name"]
    inlines = [TemplateTierInline]
    show_full_result_count = False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RouteTierInline(ReadOnlyInline):
    model = RouteTier
    fields = ["round", "order", "name", "quorum", "status", "activated_at", "due_at", "completed_at"]
    ordering = ["round", "order"]


class AssignmentInline(ReadOnlyInline):
    model = Assignment
    fk_name = "document"
    fields = [
        "tier",
        "signer",
        "status",
        "decided_by",
        "decided_at",
        "signed_at",
        "field_name",
        "comment",
        "approved_sha256",
        "version_confirmed",
        "signing_error",
    ]
    ordering = ["tier__round", "tier__order", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tier", "signer", "decided_by")


class VersionInline(ReadOnlyInline):
    model = DocumentVersion
    fields = ["number", "kind", "sha256", "size", "created_at", "signing_job_id"]
    ordering = ["number"]


ACTION_PAGE = engines["django"].from_string(
    """{% extends "admin/base_site.html" %}
{% block content %}
<h1>{{ title }}</h1>
<ul>{% for document in documents %}
  <li>#{{ document.pk }} {{ document.title }} ({{ document.get_status_display }})</li>
{% endfor %}</ul>
<form method="post">{% csrf_token %}
  {{ form.as_p }}
  {% for document in documents %}<input type="hidden" name="_selected_action" value="{{ document.pk }}">{% endfor %}
  <input type="hidden" name="action" value="{{ action }}">
  <input type="hidden" name="apply" value="1">
  <input type="submit" value="{{ title }}">
</form>
{% endblock %}"""
)


class CancelForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=500, label=_("Reason (audited)"))


class ReassignForm(forms.Form):
    seat = forms.ModelChoiceField(queryset=Assignment.objects.none(), label=_("Seat"))
    new_signer = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"), label=_("New signer")
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=500, label=_("Reason (audited)"))

    def __init__(self, *args, document: Document, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["seat"].queryset = (
            Assignment.objects.filter(tier_id__in=selectors.current_tier_ids(document), status=AssignmentStatus.PENDING)
            .select_related("signer", "tier")
            .order_by("tier__order", "id")
        )
        self.fields["seat"].label_from_instance = lambda a: (
            f"ขั้นที่ {a.tier.order}: {a.signer.full_name_th} ({a.field_name})"
        )


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "title",
        "reference_no",
        "status",
        "urgency",
        "confidentiality",
        "template",
        "requester",
        "round",
        "created_at",
        "completed_at",
    ]
    list_filter = ["status", "urgency", "confidentiality", "template", "pades_level", "created_at"]
    search_fields = [
        "=id",
        "title",
        "reference_no",
        "requester__username",
        "requester__first_name_th",
        "requester__last_name_th",
    ]
    list_select_related = ["template", "requester"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [RouteTierInline, AssignmentInline, VersionInline]
    actions = ["cancel_with_reason", "reassign_seat"]

    def get_queryset(self, request):
        # Classified documents (ลับ…) are shown only to their route's participants, in admin too.
        return super().get_queryset(request).filter(pk__in=selectors.documents_visible_to(request.user).values("pk"))

    def get_readonly_fields(self, request, obj=None):
        fields = [f.name for f in Document._meta.fields]
        fields[fields.index("verification_token")] = "verification_page"
        return [*fields, "archive_copy"]

    @admin.display(description=_("public verification page"))
    def verification_page(self, obj):
        # The page's path, not the bare token: the operator reads it as the address printed under the QR code.
        return f"/v/{obj.verification_token}/" if obj and obj.verification_token else "—"

    @admin.display(description=_("Archive copy (PDF/A-3)"))
    def archive_copy(self, obj):
        version = selectors.archive_version(obj) if obj else None
        if version is None:
            return "—"
        return format_html(
            '<a href="/api/v1/documents/{}/archive/">v{} · {}…</a>', obj.pk, version.number, version.sha256[:12]
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _action_page(self, request, *, queryset, form, title: str, action: str):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "documents": list(queryset),
            "form": form,
            "action": action,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, ACTION_PAGE, context)

    @admin.action(description=_("Cancel the selected documents (with a reason)…"), permissions=["change"])
    def cancel_with_reason(self, request, queryset):
        form = CancelForm(request.POST if "apply" in request.POST else None)
        if not form.is_bound or not form.is_valid():
            return self._action_page(
                request, queryset=queryset, form=form, title=gettext("Cancel documents"), action="cancel_with_reason"
            )
        done = 0
        for document in queryset:
            try:
                services.route_cancel(document=document, actor=request.user, reason=form.cleaned_data["reason"])
                done += 1
            except services.WorkflowError as exc:
                messages.error(request, f"#{document.pk}: {exc.message}")
        if done:
            messages.success(request, gettext("Cancelled %(n)s document(s).") % {"n": done})
        return None

    @admin.action(description=_("Reassign a seat of the selected document…"), permissions=["change"])
    def reassign_seat(self, request, queryset):
        if queryset.count() != 1:
            messages.error(request, gettext("Select exactly one document to reassign a seat."))
            return None
        document = queryset.get()
        data = request.POST if "apply" in request.POST else None
        form = ReassignForm(data, document=document)
        if not form.is_bound or not form.is_valid():
            return self._action_page(
                request, queryset=queryset, form=form, title=gettext("Reassign a seat"), action="reassign_seat"
            )
        try:
            services.assignment_reassign(
                assignment=form.cleaned_data["seat"],
                new_signer=form.cleaned_data["new_signer"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except services.WorkflowError as exc:
            messages.error(request, exc.message)
            return None
        new_signer = form.cleaned_data["new_signer"]
        messages.success(request, gettext("Seat given to %(name)s.") % {"name": new_signer.full_name_th})
        return None


class DelegationForm(forms.ModelForm):
    class Meta:
        model = Delegation
        fields = ["delegator", "delegate", "kind", "starts_at", "ends_at"]

    actor = None  # the admin user, set by DelegationAdmin.get_form

    def clean(self):
        data = super().clean()
        if data.get("delegator") and data.get("delegate") and self.actor is not None:
            try:
                services.delegation_check(delegator=data["delegator"], delegate=data["delegate"], actor=self.actor)
            except services.WorkflowError as exc:
                raise forms.ValidationError(exc.message)
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise forms.ValidationError(gettext("The delegation must end after it starts."))
        return data


@admin.register(Delegation)
class DelegationAdmin(admin.ModelAdmin):
    form = DelegationForm
    list_display = [
        "id",
        "delegator",
        "delegate",
        "kind",
        "starts_at",
        "ends_at",
        "revoked_at",
    ]
    list_filter = ["kind", "starts_at", "revoked_at"]
    search_fields = ["delegator__username", "delegate__username", "delegator__last_name_th", "delegate__last_name_th"]
    list_select_related = ["delegator", "delegate"]
    raw_id_fields = ["delegator", "delegate"]
    show_full_result_count = False
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        # A delegation is never edited in place: revoke it and create another (both are audited).
        return [f.name for f in Delegation._meta.fields] if obj else ["revoked_at"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = services.delegation_create(
            delegator=obj.delegator,
            delegate=obj.delegate,
            starts_at=obj.starts_at,
            ends_at=obj.ends_at,
            kind=obj.kind,
            actor=request.user,
        )
        obj.pk, obj.created_at = created.pk, created.created_at

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Revoke the selected delegations"), permissions=["change"])
    def revoke(self, request, queryset):
        for delegation in queryset:
            services.delegation_revoke(delegation=delegation, actor=request.user)
        messages.success(request, gettext("Revoked."))


@admin.register(SendRegister)
class SendRegisterAdmin(admin.ModelAdmin):
    """ทะเบียนหนังสือส่ง: the prefix is editable; the last number only moves as memos take numbers."""

    list_display = ["org_unit", "year", "prefix", "last_number"]
    list_filter = ["year"]
    readonly_fields = ["last_number"]
    raw_id_fields = ["org_unit"]
