"""Forms of the office pages: they parse and check input; the views hand the cleaned data to services."""

from __future__ import annotations

import json
from datetime import date

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from workflows.models import Confidentiality, Urgency, WorkflowTemplate

SIGNATURE_IMAGE_TYPES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
SIGNATURE_IMAGE_MAX_BYTES = 1024 * 1024
SHA256 = r"^[0-9a-fA-F]{64}$"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


def _templates():
    return WorkflowTemplate.objects.filter(active=True).order_by("name")


class TemplateChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.name


class ComposeForm(forms.Form):
    """One form for both ways in: a memo typed here, or an uploaded PDF (`source` says which)."""

    source = forms.ChoiceField(
        label=_("Document"),
        choices=[("memo", _("Compose a memo")), ("upload", _("Upload a PDF"))],
        initial="memo",
        widget=forms.RadioSelect,
    )
    workflow = TemplateChoice(label=_("Workflow"), queryset=_templates(), to_field_name="code", empty_label=None)
    title = forms.CharField(label=_("Subject"), max_length=300)
    government_unit = forms.CharField(label=_("Government unit"), max_length=300, required=False)
    reference = forms.CharField(label=_("Reference no."), max_length=100, required=False)
    # <input type=date> speaks ISO dates whatever the page's language (the browser shows them localised).
    memo_date = forms.DateField(
        label=_("Date"),
        required=False,
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )
    addressee = forms.CharField(label=_("To"), max_length=300, required=False)
    body = forms.CharField(label=_("Body"), required=False, widget=forms.Textarea(attrs={"rows": 10}))
    urgency = forms.ChoiceField(label="ชั้นความเร็ว", choices=[("", "ปกติ"), *Urgency.choices], required=False)
    confidentiality = forms.ChoiceField(
        label="ชั้นความลับ", choices=[("", "ไม่มี"), *Confidentiality.choices], required=False
    )
    file = forms.FileField(label=_("PDF file"), required=False)
    attachments = MultipleFileField(label=_("Attachments (PDF)"), required=False, widget=MultipleFileInput)
    placements = forms.CharField(required=False, widget=forms.HiddenInput)
    save_positions = forms.BooleanField(label="บันทึกตำแหน่งกรอบลงนามไว้กับแม่แบบนี้", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workflow"].queryset = _templates()
        self.fields["memo_date"].initial = date.today()

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload is not None and upload.size > settings.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is too large."))
        return upload

    def clean_placements(self) -> dict | None:
        raw = self.cleaned_data.get("placements") or ""
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(_("The signature boxes could not be read.")) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError(_("The signature boxes could not be read."))
        return value

    def clean(self):
        data = super().clean()
        if data.get("source") == "upload" and not data.get("file"):
            self.add_error("file", _("Choose the PDF to send."))
        if data.get("source") == "memo" and not (data.get("body") or "").strip():
            self.add_error("body", _("Write the text of the memo."))
        return data


class DecisionForm(forms.Form):
    comment = forms.CharField(label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    otp = forms.CharField(
        label=_("One-time code (OTP)"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    # Instead of `otp`: the passkey's answer (JSON) to the challenge of office-document-passkey.
    webauthn = forms.CharField(required=False, max_length=32000, widget=forms.HiddenInput)
    # The version the page showed; the approval is refused when it is missing or no longer current.
    sha256 = forms.RegexField(regex=SHA256, required=False, widget=forms.HiddenInput)
    confirm = forms.BooleanField(required=False)


class ResubmitForm(forms.Form):
    file = forms.FileField(
        label=_("Revised PDF (optional)"),
        required=False,
        help_text=_("Without a new file the same version goes back to the step that returned it."),
    )
    comment = forms.CharField(
        label=_("What was revised"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload is not None and upload.size > settings.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is too large."))
        return upload


class RecallForm(forms.Form):
    reason = forms.CharField(label=_("Reason for recalling"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class ListFilterForm(forms.Form):
    """Search, filters and sort of the inbox, my documents and "decided by me" (all optional)."""

    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    status = forms.ChoiceField(label=_("Status"), required=False)
    template = forms.ChoiceField(label=_("Workflow"), required=False)
    since = forms.DateField(
        label=_("From date"), required=False, widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("To date"), required=False, widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
    )
    sort = forms.ChoiceField(label=_("Sort by"), required=False)

    SORT_LABELS = {
        "waiting": _("Waiting longest"),
        "due": _("Due soonest"),
        "newest": _("Newest first"),
        "oldest": _("Oldest first"),
        "title": _("Title"),
    }

    def __init__(self, *args, sorts, statuses=None, **kwargs):
        super().__init__(*args, **kwargs)
        from office.templatetags.office import DOCUMENT_STATUS_LABELS

        self.fields["sort"].choices = [(key, self.SORT_LABELS[key]) for key in sorts]
        self.fields["template"].choices = [("", _("All workflows"))] + [(t.code, t.name) for t in _templates()]
        if statuses is None:
            del self.fields["status"]
        else:
            self.fields["status"].choices = [("", _("All statuses"))] + [
                (value, DOCUMENT_STATUS_LABELS[value]) for value in statuses
            ]

    def filters(self) -> dict:
        """The cleaned filters as keyword arguments of the `selectors.*_page` lists (bad input is ignored)."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "q": (data.get("q") or "").strip(),
            "status": data.get("status") or "",
            "template": data.get("template") or "",
            "since": data.get("since"),
            "until": data.get("until"),
        }

    def sort_key(self) -> str:
        data = self.cleaned_data if self.is_valid() else {}
        return data.get("sort") or self.fields["sort"].choices[0][0]


class BatchForm(forms.Form):
    documents = forms.TypedMultipleChoiceField(coerce=int, choices=[])
    otp = forms.CharField(label=_("One-time code (OTP)"), max_length=64, required=False)
    # A passkey's answer to the batch's challenge (static/js/passkeys.mjs), instead of the code.
    webauthn = forms.CharField(required=False, max_length=20000)
    comment = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args, document_ids: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["documents"].choices = [(pk, pk) for pk in document_ids]
        # One hidden `sha256_<id>` per inbox row: the version the inbox listed.
        for pk in document_ids:
            self.fields[f"sha256_{pk}"] = forms.RegexField(regex=SHA256, required=False)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("otp") and not cleaned.get("webauthn"):
            self.add_error("otp", _("This field is required."))
        return cleaned

    def versions_shown(self) -> dict[int, str]:
        return {pk: self.cleaned_data.get(f"sha256_{pk}") or "" for pk in self.cleaned_data["documents"]}


class VerifyForm(forms.Form):
    file = forms.FileField(label=_("PDF file to verify"))
    password = forms.CharField(
        label=_("Password (encrypted copies only)"), required=False, widget=forms.PasswordInput, max_length=256
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is too large to verify."))
        return upload


class SignatureImageForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["signature_image"]
        labels = {"signature_image": _("Handwritten signature (PNG or JPEG)")}

    def clean_signature_image(self):
        upload = self.cleaned_data.get("signature_image")
        if not upload or not hasattr(upload, "content_type"):
            return upload
        if upload.size > SIGNATURE_IMAGE_MAX_BYTES:
            raise forms.ValidationError(_("The image must be at most 1 MB."))
        head = upload.read(8)
        upload.seek(0)
        # The content type is what the browser claims; the first bytes are what the file is.
        if not any(head.startswith(magic) for magic in SIGNATURE_IMAGE_TYPES.values()):
            raise forms.ValidationError(_("Upload a PNG or JPEG image."))
        return upload


class EncryptedCopyForm(forms.Form):
    """An encrypted copy of a document: for a password, or for chosen users' encryption certificates."""

    password = forms.CharField(
        label=_("Password for the copy"), required=False, widget=forms.PasswordInput, max_length=200, strip=False
    )
    recipients = forms.CharField(
        label=_("Or the recipients' usernames (comma-separated)"), required=False, max_length=2000
    )

    def clean(self):
        data = super().clean()
        recipients = [r.strip() for r in (data.get("recipients") or "").replace("\n", ",").split(",") if r.strip()]
        if bool(data.get("password")) == bool(recipients):
            raise forms.ValidationError(_("Give either a password or recipients."))
        data["recipients"] = recipients or None
        data["password"] = data.get("password") or None
        return data


class EncryptedOpenForm(forms.Form):
    file = forms.FileField(label=_("Encrypted copy (PDF)"))
    otp = forms.CharField(label=_("One-time code (OTP)"), max_length=64)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is too large to verify."))
        return upload
