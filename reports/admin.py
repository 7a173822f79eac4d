"""Admin page: download the report of any month or date range (as one file or all three in a zip).

The page hangs off audit's event list: the event admin is registered again here with the download
route and a button for it, so audit (at the bottom) never imports reports (at the top).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from datetime import date
from pathlib import Path

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.admin import EventAdmin
from audit.models import Event
from core.thai import BUDDHIST_ERA_OFFSET, parse_day, parse_month

from . import selectors, services

FORMATS = [("zip", "PDF + CSV + XLSX (zip)"), ("pdf", "PDF"), ("csv", "CSV"), ("xlsx", "XLSX")]
CONTENT_TYPES = {
    "zip": "application/zip",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


CERTIFICATE_FILTER_LABELS = {
    "active": _("active"),
    "expired": _("expired"),
    "revoked": _("revoked"),
    "pending": _("awaiting issuance or acceptance"),
    "superseded": _("superseded"),
}


class ThaiDayField(forms.CharField):
    """A day typed in the Buddhist or the Common Era (core.thai.parse_day): Thai staff write 31/12/2569."""

    def __init__(self, **kwargs):
        super().__init__(widget=forms.TextInput(attrs={"maxlength": 10, "size": 10}), **kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        try:
            return parse_day(text)
        except ValueError:
            raise forms.ValidationError(_("Give the day as 31/12/2569 or 2026-12-31."), code="invalid") from None


class ReportForm(forms.Form):
    month = forms.CharField(
        label=_("Month"), required=False, help_text=_("e.g. 12/2569 or 2026-12 (Buddhist or Common Era)"), max_length=7
    )
    first_day = ThaiDayField(required=False, label=_("first day"), help_text=_("e.g. 1/12/2569 or 2026-12-01"))
    last_day = ThaiDayField(
        required=False, label=_("last day (included)"), help_text=_("e.g. 31/12/2569 or 2026-12-31")
    )
    cert_status = forms.ChoiceField(
        required=False,
        label=_("certificates"),
        choices=[("", _("all"))] + [(s, CERTIFICATE_FILTER_LABELS.get(s, s)) for s in selectors.CERTIFICATE_FILTERS],
    )
    org_unit = forms.CharField(required=False, label=_("org unit"), help_text=_("unit code (with the units below it)"))
    fmt = forms.ChoiceField(choices=FORMATS, initial="zip", label=_("file format"))

    def clean(self):
        data = super().clean()
        month, first, last = data.get("month"), data.get("first_day"), data.get("last_day")
        if month:
            try:
                year, number = parse_month(month)
            except ValueError:
                raise forms.ValidationError(_("Give the month as 12/2569 or 2026-12."))
            data["period"] = selectors.period_month(year=year, month=number)
        elif first and last:
            if last < first:
                raise forms.ValidationError(_("The last day is before the first day."))
            data["period"] = selectors.period_range(first_day=first, last_day=last)
        else:
            raise forms.ValidationError(_("Give a month, or both the first and the last day."))
        return data


def _previous_month(today: date) -> str:
    """Last month as Thai staff write it, "11/2569"."""
    year, month = (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)
    return f"{month}/{year + BUDDHIST_ERA_OFFSET}"


def report_download(request):
    if not request.user.has_perm("audit.view_event"):
        raise PermissionDenied
    form = ReportForm(request.GET or None, initial={"month": _previous_month(timezone.localdate())})
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        with tempfile.TemporaryDirectory(prefix="dsign-report-") as tmp:
            files = services.report_write(
                period=data["period"],
                out_dir=Path(tmp),
                cert_status=data["cert_status"] or None,
                org_unit=data["org_unit"] or None,
            )
            fmt = data["fmt"]
            if fmt == "zip":
                buffer = io.BytesIO()
                with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                    for path in files.paths:
                        archive.write(path, path.name)
                body, name = buffer.getvalue(), f"report-{data['period'].label}.zip"
            else:
                path = {"pdf": files.pdf, "csv": files.csv, "xlsx": files.xlsx}[fmt]
                body, name = path.read_bytes(), path.name
        response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    context = {
        **admin.site.each_context(request),
        "title": _("Download a report"),
        "form": form,
    }
    return TemplateResponse(request, "reports/admin_report_download.html", context)


class EventReportAdmin(EventAdmin):
    change_list_template = "reports/admin_event_change_list.html"

    def get_urls(self):
        custom = [path("report/", self.admin_site.admin_view(report_download), name="audit_event_report")]
        return custom + super().get_urls()


admin.site.unregister(Event)
admin.site.register(Event, EventReportAdmin)
