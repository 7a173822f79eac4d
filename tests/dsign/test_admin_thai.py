"""Issue 19.6: the admin console speaks Thai to the IT admin and the CA officer.

Every registered model's list and the change form of one of its rows are opened as the IT admin (signed in
with a second factor, as the admin requires) and read as a person would (the page's visible text: no
scripts, styles or attribute values). Each page must answer 200, name rows by what they are (never
"RouteTier object (19)"), write dates in the Buddhist era (2569, not 2026) and show no English word except
proper names, abbreviations and identifiers an operator copies (codes, hashes, usernames, e-mail addresses).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib import admin
from django.test import Client
from django.utils import timezone
from lxml import html as lxml_html

from tests.conftest import admin_login, blank_pdf
from tests.ui.test_thai_only import ALLOWED as OFFICE_ALLOWED

pytestmark = pytest.mark.django_db

# Written in Latin letters in Thai admin text too: standards, formats and product names.
ALLOWED = OFFICE_ALLOWED | {
    "TOTP",
    "IP",
    "URL",
    "HTML",
    "MIME",
    "Bcc",
    "DER",
    "PEM",
    "CSR",
    "NRCA",
    "ThaID",
    "NDID",
    "HMAC-SHA256",
    "webhook",
    "Webhooks",
    "Standard",
    "WEBHOOK",
    "HOSTS",
    "ALLOWED",
    "Idempotency-Key",
    "OpenID",
    "Connect",
    "Active",
    "Directory",
    "HR",
    "PKCS",
    "EC",
    "RSA",
    "cron",
    "pickle",
    "tuple",
    "dict",
    "Unix",
    "loopback",
    "link-local",
    "null",
    "zip",
    "CSV",
    "XLSX",
    "GET",
    "POST",
    "HTTP",
    "Accept",
    "Control",
    "Command",
    "Mac",
    "django-otp",
    "t0",
    "x1",
    "y1",
    "x2",
    "y2",
    "http",
    "https",
    "whsec",
    "base64",
    "DOPA",
    "FIDO2",
    "COSE",
    "AAGUID",
    "v1",
    "AAL",
    "IAL",
    "UTC",
    "Firefox",
    "mixed",
    "None",  # django-q2 prints an empty task field as Python's None
}
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]*")
# What an operator reads as a code, not as words: dotted and snake_case identifiers (event types, roles,
# content types), hashes and key prefixes, e-mail addresses, file names, URLs and paths, PEM/base64 lines.
IDENTIFIER = re.compile(
    r"\S+@\S+"
    r"|https?://\S+|(?<!\S)/[\w./-]*"
    r"|</?[a-z][^>]*>"
    r"|\{[^{}]*\}|\[[^\[\]]*\]"
    r"|\b[\w-]+(\.[\w-]+)+\b"
    r"|\b[A-Za-z0-9]+(_[A-Za-z0-9]+)+\b"
    r"|\b\w+:\w+\b"
    r"|\b[a-z]+(-[a-z0-9]+)*-\d[a-z0-9]*(-[a-z0-9]+)*\b"
    r"|\b[0-9a-fA-F]{8,}…?"
    r"|\S+\*{3,}\S*"
    r"|\S{24,}"
    r"|-----[A-Z ]+-----"
)
THAI = re.compile(r"[\u0E00-\u0E7F]")
# Thai letters of all letters on a page; the rest are proper names, abbreviations and codes.
MIN_THAI_SHARE = 0.6
GREGORIAN_YEAR = re.compile(r"(?<![\w.+-])20\d\d(?!\w)")


def visible_text(page: bytes) -> str:
    document = lxml_html.fromstring(page.decode())
    for hidden in document.xpath("//script|//style|//template|//noscript|//*[@hidden]"):
        hidden.drop_tree()
    return " ".join(part.strip() for part in document.xpath("//body")[0].itertext() if part.strip())


def thai_share(text: str) -> float:
    """Thai letters over Thai and Latin letters, codes and proper names left out."""
    words = IDENTIFIER.sub(" ", text)
    thai = len(THAI.findall(words))
    latin = len(re.findall(r"[A-Za-z]", words))
    return thai / max(thai + latin, 1)


def english_words(text: str, names: set[str]) -> list[str]:
    found = []
    for word in LATIN_WORD.findall(IDENTIFIER.sub(" ", text)):
        bare = word.strip("-")
        if bare in ALLOWED or bare in names or bare.split("-")[0] in ALLOWED or len(bare) <= 1:
            continue
        if any(c.isdigit() for c in bare):  # a random token or serial ("i8q9ReF", "N5"), not a word
            continue
        found.append(word)
    return found


def proper_names() -> set[str]:
    """Words of the names the data itself holds: usernames, CA and unit names in English, the organisation."""
    from django_otp.plugins.otp_email.models import EmailDevice
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import ExternalIdentity, OrgUnit, User
    from branding.selectors import branding_get
    from certificates.models import Certificate, CertificateAuthority, TrustRoot
    from integrations.models import ApiClient
    from workflows.models import WorkflowTemplate

    texts = [branding_get().name, branding_get().name_en]
    for fields in User.objects.values_list("username", "first_name", "last_name", "title_en"):
        texts += fields
    texts += list(ExternalIdentity.objects.values_list("subject", flat=True))
    for model in (StaticDevice, TOTPDevice, EmailDevice):
        texts += list(model.objects.values_list("name", flat=True))
    texts += list(OrgUnit.objects.values_list("name_en", flat=True)) + list(
        OrgUnit.objects.values_list("code", flat=True)
    )
    texts += list(CertificateAuthority.objects.values_list("common_name", flat=True))
    texts += list(CertificateAuthority.objects.values_list("key_label", flat=True))
    texts += list(TrustRoot.objects.values_list("name", flat=True))
    texts += list(Certificate.objects.values_list("subject_cn", flat=True))
    texts += list(Certificate.objects.values_list("issuer_cn", flat=True))
    texts += list(Certificate.objects.values_list("key_algorithm", flat=True))
    texts += list(ApiClient.objects.values_list("name", flat=True))
    texts += list(WorkflowTemplate.objects.values_list("code", flat=True))
    texts += list(WorkflowTemplate.objects.values_list("document_type", flat=True))
    # the X.509 subject as the trust root page spells it out
    texts += ["Common Name", "Organization", "Country", "TH"]
    return {word for text in texts if text for word in LATIN_WORD.findall(text)}


def one_row_of_everything(personas) -> None:
    """At least one row in each model the admin lists, so every change form is opened too."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django_otp.plugins.otp_email.models import EmailDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from django_q.models import OrmQ, Schedule, Task
    from django_q.signing import SignedPackage

    from accounts.models import ExternalIdentity, OrgUnit, SMSDevice, StepUp, WebAuthnDevice
    from accounts.services import api_token_create
    from audit.models import ChainAnchor, ChainPrune
    from branding.models import Branding
    from certificates.models import CertificateAuthority, TrustRoot
    from integrations.models import IdempotencyRecord, WebhookDelivery, WebhookEvent, WebhookSubscription
    from integrations.services import api_client_create
    from signing.models import SigningJob
    from workflows import services
    from workflows.models import Delegation, SendRegister, WorkflowTemplate

    now = timezone.now()
    admin_user, head1, head2 = personas["admin"], personas["head1"], personas["head2"]
    Branding.objects.update_or_create(pk=1, defaults={"organisation_name": "สำนักงานทดสอบระบบเอกสาร"})
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    services.route_start(title="ขออนุมัติจัดซื้อวัสดุ", pdf=blank_pdf(), template=template, actor=personas["requester"])
    api_token_create(user=head1, name="สคริปต์รายงาน")
    ExternalIdentity.objects.create(user=head2, provider="oidc", issuer="https://login.example", subject="abc-123")
    SMSDevice.objects.create(user=head1, name="โทรศัพท์", phone="0812345678", confirmed=True)
    EmailDevice.objects.create(user=head1, name="อีเมล", confirmed=True)
    TOTPDevice.objects.create(user=head2, name="แอปในโทรศัพท์", confirmed=True)
    WebAuthnDevice.objects.create(
        user=head2,
        name="กุญแจความปลอดภัย",
        confirmed=True,
        credential_id="q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0xcv",
        public_key="pQECAyYgASFYIPoV1cX0mTzI3k2uJq9eWb6NhxYc8rL4dA7sGfE0yKjBIlggPq",
        sign_count=7,
        aaguid="00000000-0000-0000-0000-000000000000",
        transports=["usb", "nfc"],
    )
    SendRegister.objects.get_or_create(
        org_unit=OrgUnit.objects.order_by("pk").first(),
        year=timezone.localdate().year + 543,
        defaults={"prefix": "กค 0401", "last_number": 12},
    )
    StepUp.objects.update_or_create(
        user=head1, defaults={"verified_at": now, "purpose": "sign", "device": "otp_totp.totpdevice/1"}
    )
    ChainAnchor.objects.create(event_id=1, event_hash="ab" * 32, timestamp_token=b"\x30\x00")
    ChainPrune.objects.create(
        first_kept_id=1,
        first_kept_prev_hash="0" * 64,
        pruned_count=0,
        export_name="audit-2569-11.jsonl.gz",
        export_sha256="cd" * 32,
        export_timestamp_token=b"\x30\x00",
    )
    client, _key = api_client_create(name="e-Saraban", scopes=["documents:read"], users=[head1], actor=admin_user)
    subscription = WebhookSubscription.objects.create(
        client=client, url="https://saraban.example/hook", secret="whsec_c2VjcmV0", events=["document.completed"]
    )
    occurrence = WebhookEvent.objects.create(event="document.completed", payload={"id": 1})
    WebhookDelivery.objects.create(subscription=subscription, event=occurrence, status="failed", attempts=3)
    IdempotencyRecord.objects.create(
        user=head1,
        key=str(uuid.uuid4()),
        method="POST",
        path="/api/v1/documents/",
        fingerprint="ef" * 32,
        completed=True,
        response_status=201,
        expires_at=now + timedelta(days=1),
    )
    SigningJob.objects.create(
        handler="workflows.signing_subject", subject_id=1, field_name="Sig1_r1", status="failed", error_code="x"
    )
    if not TrustRoot.objects.exists():
        root_ca = CertificateAuthority.objects.get(kind="root")
        TrustRoot.objects.create(
            name="CA หลักของหน่วยงาน",
            source="internal",
            certificate_der=root_ca.certificate_der,
            added_by=admin_user,
            approved_by=head1,
            approved_at=now,
        )
    Delegation.objects.create(
        delegator=personas["director"], delegate=head1, starts_at=now, ends_at=now + timedelta(days=7)
    )
    AccessAttempt.objects.create(
        username="head3",
        ip_address="10.0.0.9",
        user_agent="Firefox",
        failures_since_start=3,
        attempt_time=now,
        path_info="/accounts/login/",
    )
    AccessFailureLog.objects.create(username="head3", ip_address="10.0.0.9", user_agent="Firefox", attempt_time=now)
    AccessLog.objects.create(username="head1", ip_address="10.0.0.8", user_agent="Firefox", attempt_time=now)
    Schedule.objects.create(name="รายงานประจำเดือน", func="reports.tasks.monthly", schedule_type=Schedule.MONTHLY)
    for success, name in ((True, "ลงนามเอกสาร"), (False, "ส่งอีเมล")):
        Task.objects.create(
            id=uuid.uuid4().hex,
            name=name,
            func="signing.tasks.sign",
            result="สำเร็จ" if success else "เชื่อมต่อไม่ได้",
            started=now,
            stopped=now,
            success=success,
        )
    package = {"id": uuid.uuid4().hex, "name": "ลงนามเอกสาร", "func": "signing.tasks.sign", "args": (), "kwargs": {}}
    OrmQ.objects.create(key="dsign", payload=SignedPackage.dumps(package), lock=now)


def admin_pages() -> list[str]:
    pages = ["/admin/"]
    for model in sorted(admin.site._registry, key=lambda m: m._meta.label):
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        pages.append(base)
        row = model._default_manager.order_by("pk").first()
        assert row is not None, f"no {model._meta.label} row to open"
        pages.append(f"{base}{row.pk}/change/")
    return pages


def test_every_admin_list_and_change_form_is_thai_with_buddhist_era_dates(personas):
    one_row_of_everything(personas)
    client = admin_login(Client(), personas["admin"])
    names = proper_names()

    problems = {}
    pages = admin_pages()
    for path in pages:
        response = client.get(path, follow=True)
        text = visible_text(response.content) if response.status_code == 200 else ""
        found = []
        if response.status_code != 200:
            found.append(f"HTTP {response.status_code}")
        if "object (" in text:
            found.append("a row named 'object (…)'")
        years = GREGORIAN_YEAR.findall(IDENTIFIER.sub(" ", text))
        if years:
            found.append(f"Gregorian years {sorted(set(years))}")
        words = english_words(text, names)
        if words:
            found.append(f"English: {sorted(set(words))}")
        share = thai_share(text)
        if share < MIN_THAI_SHARE:
            found.append(f"only {share:.0%} Thai")
        if found:
            problems[path] = found
    assert len(pages) > 60
    assert problems == {}, "\n".join(f"{path}: {found}" for path, found in problems.items())


def test_the_admin_header_is_the_organisations_name_in_thai_and_django_itself_speaks_thai(personas):
    from branding.models import Branding

    Branding.objects.update_or_create(pk=1, defaults={"organisation_name": "กรมทดสอบ"})
    client = admin_login(Client(), personas["admin"])

    page = client.get("/admin/").content.decode()

    assert "<title>หน้าจัดการ | ระบบจัดการ กรมทดสอบ</title>" in page or "ระบบจัดการ กรมทดสอบ</title>" in page
    assert "กรมทดสอบ — ระบบจัดการ" in page and "Django" not in visible_text(page.encode())
    assert "ข้ามไปยังเนื้อหาหลัก" in page and "ออกจากระบบ" in page  # Django's own admin words, in Thai


def test_dates_in_lists_and_read_only_fields_are_buddhist_era_in_thailand_time(personas):
    from accounts.models import ApiToken
    from accounts.services import api_token_create

    token, _key = api_token_create(user=personas["head1"], name="สคริปต์")
    # 20:30 UTC on 31 December 2026 is already 1 January 2570 (2027) at 03:30 in Bangkok.
    ApiToken.objects.filter(pk=token.pk).update(expires_at=datetime(2026, 12, 31, 20, 30, tzinfo=UTC))
    client = admin_login(Client(), personas["admin"])

    listing = visible_text(client.get("/admin/accounts/apitoken/").content)
    detail = visible_text(client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content)

    for text in (listing, detail):
        assert "1 มกราคม 2570 เวลา 03:30 น." in text
        assert "2026" not in text and "2027" not in text


def test_the_date_hierarchy_counts_years_in_the_buddhist_era(personas):
    client = admin_login(Client(), personas["admin"])

    page = visible_text(client.get("/admin/audit/event/").content)
    this_year = timezone.localdate().year

    # As a word: the same four digits may occur inside a hash the audit list shows.
    assert re.search(rf"\b{this_year + 543}\b", page) and not re.search(rf"\b{this_year}\b", page)


def test_english_pages_keep_the_common_era(personas):
    client = admin_login(Client(), personas["admin"])

    page = visible_text(client.get("/admin/audit/event/", HTTP_ACCEPT_LANGUAGE="en").content)

    assert str(timezone.localdate().year) in page and "Audit log" in page


def test_the_report_form_takes_buddhist_or_common_era_months_and_days(personas):
    from reports.admin import ReportForm

    for month in ("12/2569", "2026-12", "2569-12", "12/2026"):
        form = ReportForm({"month": month, "fmt": "csv"})
        assert form.is_valid(), form.errors
        period = form.cleaned_data["period"]
        assert (period.first_day.year, period.first_day.month) == (2026, 12)
    days = ReportForm({"first_day": "1/12/2569", "last_day": "2026-12-31", "fmt": "csv"})
    assert days.is_valid(), days.errors
    assert (days.cleaned_data["period"].first_day.isoformat(), days.cleaned_data["period"].last_day.isoformat()) == (
        "2026-12-01",
        "2026-12-31",
    )
    refused = ReportForm({"first_day": "31/02/2569", "last_day": "2026-12-31", "fmt": "csv"})
    assert not refused.is_valid() and "31/12/2569" in str(refused.errors)

    client = admin_login(Client(), personas["admin"])
    page = client.get("/admin/audit/event/report/")
    text = visible_text(page.content)
    assert page.status_code == 200 and "ดาวน์โหลดรายงาน" in text and english_words(text, proper_names()) == []
    previous = (timezone.localdate().replace(day=1) - timedelta(days=1)).year + 543
    assert f"/{previous}" in page.content.decode()  # the month offered is last month, in the Buddhist era
    download = client.get("/admin/audit/event/report/", {"month": "11/2569", "fmt": "csv"})
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")


def test_a_read_only_date_stays_read_only(personas):
    """The Buddhist-era display must not turn a read-only date into an input: a CA officer cannot forge the
    moment a trust root was approved by posting it."""
    from certificates.models import TrustRoot

    one_row_of_everything(personas)
    root = TrustRoot.objects.order_by("pk").first()
    client = admin_login(Client(), personas["admin"])

    form = client.get(f"/admin/certificates/trustroot/{root.pk}/change/").content.decode()

    assert 'name="approved_at' not in form and 'name="created_at' not in form


def test_the_change_history_dates_are_buddhist_era(personas):
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    from accounts.models import OrgUnit

    unit = OrgUnit.objects.order_by("pk").first()
    LogEntry.objects.create(
        user=personas["admin"],
        content_type=ContentType.objects.get_for_model(OrgUnit),
        object_id=str(unit.pk),
        object_repr=str(unit),
        action_flag=CHANGE,
        change_message="[]",
    )
    client = admin_login(Client(), personas["admin"])

    text = visible_text(client.get(f"/admin/accounts/orgunit/{unit.pk}/history/").content)

    assert f"{timezone.localdate().year + 543}" in text and not GREGORIAN_YEAR.search(text)
