"""The report form takes the month as Thai offices write it: Buddhist era ("12/2569") or Common Era."""

import pytest

from core.thai import parse_month
from reports.admin import ReportForm


@pytest.mark.parametrize("text", ["12/2569", "2569-12", "12/2026", "2026-12", " 12/2569 "])
def test_the_same_month_in_either_era(text):
    assert parse_month(text) == (2026, 12)


@pytest.mark.parametrize("text", ["13/2569", "2569", "12-2569x", "", "0/2026", "12/1500"])
def test_what_is_not_a_month_is_refused(text):
    with pytest.raises(ValueError):
        parse_month(text)


@pytest.mark.django_db
def test_the_report_form_accepts_a_buddhist_era_month_and_says_how_when_refused():
    form = ReportForm({"month": "12/2569", "fmt": "csv"})
    assert form.is_valid(), form.errors
    period = form.cleaned_data["period"]
    assert (period.first_day.year, period.first_day.month) == (2026, 12)
    refused = ReportForm({"month": "ธันวาคม", "fmt": "csv"})
    assert not refused.is_valid() and "12/2569" in str(refused.errors)


def admin_verified(client, user):
    """Signed in to the admin as it now asks: with a confirmed second factor in the session (django-otp)."""
    from django_otp import DEVICE_ID_SESSION_KEY

    from tests.conftest import make_otp

    make_otp(user, "777777")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = user.staticdevice_set.get().persistent_id
    session.save()
    return client


@pytest.mark.django_db
def test_the_admin_speaks_with_the_organisations_name_in_thai(client, personas):
    from branding.models import Branding

    Branding.objects.update_or_create(pk=1, defaults={"organisation_name": "สำนักงานทดสอบ"})
    admin_verified(client, personas["admin"])
    page = client.get("/admin/").content.decode()
    assert "สำนักงานทดสอบ — ระบบจัดการ" in page and "Django" not in page.split("<body")[1].split("</header>")[0]
    tiers = client.get("/admin/workflows/workflowtemplate/").content.decode()
    assert "object (" not in tiers


@pytest.mark.django_db
def test_admin_document_list_shows_buddhist_era_dates(client, personas):
    from django.utils import timezone

    from tests.conftest import blank_pdf
    from workflows import services
    from workflows.models import WorkflowTemplate

    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    services.route_start(title="ทดสอบวันที่", pdf=blank_pdf(), template=template, actor=personas["requester"])
    admin_verified(client, personas["admin"])
    page = client.get("/admin/workflows/document/").content.decode()
    assert str(timezone.localdate().year + 543) in page
