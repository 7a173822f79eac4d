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
from core.thai import parse_month

from . import selectors, services

FORMATS = [("zip", "PDF + CSV + XLSX (zip)"), ("pdf", "PDF"), ("csv", "CSV"), ("xlsx", "XLSX")]
CONTENT_TYPES = {
    "zip": "application/zip",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ReportForm(forms.Form):
    month = forms.CharField(
        label=_("Month"), required=False, help_text=_("e.g. 12/2569 or 2026-12 (Buddhist or Common Era)"), max_length=7
    )
    first_day = forms.DateField(required=False, label="from", help_text="YYYY-MM-DD")
    last_day = forms.DateField(required=False, label="to (included)", help_text="YYYY-MM-DD")
    cert_status = forms.ChoiceField(
        required=False, choices=[("", "all")] + [(s, s) for s in selectors.CERTIFICATE_FILTERS]
    )
    org_unit = forms.CharField(required=False, help_text="unit code (with the units below it)")
    fmt = forms.ChoiceField(choices=FORMATS, initial="zip", label="format")

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
                raise forms.ValidationError("'to' is before 'from'.")
            data["period"] = selectors.period_range(first_day=first, last_day=last)
        else:
            raise forms.ValidationError("Give a month, or both 'from' and 'to'.")
        return data


def _previous_month(today: date) -> str:
    return f"{today.year - 1}-12" if today.month == 1 else f"{today.year}-{today.month - 1:02d}"


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
        "title": "Download a report",
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
