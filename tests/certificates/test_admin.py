"""The CA officer's admin console: enrolment, CSR, import, revoke with reason, trust roots, list filters."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import User
from audit.models import Event
from certificates import selectors
from certificates.models import Certificate, CertificateStatus, TrustRoot
from tests.certificates.conftest import approved
from tests.conftest import admin_login

pytestmark = [pytest.mark.hsm, pytest.mark.django_db]


@pytest.fixture
def officer_client(client, personas):
    admin_login(client, personas["admin"])
    return client


def test_changelist_filters_and_search_render(officer_client, personas, django_assert_max_num_queries):
    base = "/admin/certificates/certificate/"
    with django_assert_max_num_queries(20):
        page = officer_client.get(base)
    assert page.status_code == 200 and "นายสมชาย รักงาน" in page.content.decode()
    assert officer_client.get(base + "?status__exact=active&expiring_within=90").status_code == 200
    found = officer_client.get(base + "?q=head2").content.decode()
    assert "วิไล" in found and "สมชาย" not in found
    detail = officer_client.get(base + f"{selectors.certificate_for_signing(user=personas['head1']).pk}/change/")
    assert detail.status_code == 200 and "Issuing CA" in detail.content.decode()


def test_enrol_an_org_unit_from_admin(officer_client, personas, django_capture_on_commit_callbacks):
    from accounts.models import OrgUnit

    unit = OrgUnit.objects.get(code="finance")
    User.objects.create_user("clerk", email="clerk@dsign.example", org_unit=unit)
    with django_capture_on_commit_callbacks(execute=True):
        response = officer_client.post("/admin/certificates/certificate/enrol/", {"org_unit": unit.pk})
    assert response.status_code == 302
    cert = Certificate.objects.get(user__username="clerk")
    assert cert.status == CertificateStatus.PENDING_ACCEPTANCE
    assert [m.to for m in mail.outbox] == [["clerk@dsign.example"]]


def test_staff_without_the_ca_officer_role_cannot_enrol(client, personas):
    admin_login(client, personas["auditor"])
    assert client.post("/admin/certificates/certificate/enrol/", {"users": [personas["head1"].pk]}).status_code == 403


def test_revoke_action_asks_for_a_reason_then_revokes(officer_client, personas):
    cert = selectors.certificate_for_signing(user=personas["head3"])
    url = "/admin/certificates/certificate/"
    form = officer_client.post(url, {"action": "revoke", "_selected_action": [cert.pk]})
    assert form.status_code == 200 and "key compromise" in form.content.decode()
    cert.refresh_from_db()
    assert cert.status == CertificateStatus.ACTIVE  # nothing happens before the reason is chosen
    done = officer_client.post(
        url, {"action": "revoke", "_selected_action": [cert.pk], "apply": "1", "reason": "affiliation_changed"}
    )
    assert done.status_code == 302
    cert.refresh_from_db()
    assert cert.status == CertificateStatus.REVOKED and cert.revocation_reason == "affiliation_changed"
    assert Event.objects.filter(action="certificates.revoked", actor=personas["admin"]).exists()


def test_csr_download_and_import_through_admin(officer_client, personas, external_ca):
    up = officer_client.post(
        "/admin/certificates/trustroot/add/",
        {"name": "NRCA test", "source": "nrca", "enabled": "on",
         "certificate_file": SimpleUploadedFile("root.crt", external_ca.cert.read_bytes())},
    )  # fmt: skip
    assert up.status_code == 302, up.content.decode()[:2000]
    approved(TrustRoot.objects.get(name="NRCA test", enabled=True))
    again = officer_client.post(
        "/admin/certificates/trustroot/add/",
        {"name": "dup", "source": "nrca", "certificate_file": SimpleUploadedFile("r", external_ca.cert.read_bytes())},
    )
    assert again.status_code == 200 and "already configured" in again.content.decode()

    created = officer_client.post("/admin/certificates/certificate/request-csr/", {"user": personas["head2"].pk})
    assert created.status_code == 302
    cert = Certificate.objects.get(user=personas["head2"], status=CertificateStatus.AWAITING_ISSUANCE)
    csr = officer_client.get(f"/admin/certificates/certificate/{cert.pk}/csr/").content.decode()
    leaf = external_ca.sign_csr(csr, name="admin-import")
    _, wrong = external_ca.issue_with_new_key(name="admin-wrong")
    url = f"/admin/certificates/certificate/{cert.pk}/import/"
    refused = officer_client.post(url, {"file": SimpleUploadedFile("w.crt", wrong.read_bytes())})
    assert refused.status_code == 200 and "does not match the key" in refused.content.decode()
    assert officer_client.post(url, {"file": SimpleUploadedFile("c.crt", leaf.read_bytes())}).status_code == 302
    cert.refresh_from_db()
    assert cert.status == CertificateStatus.PENDING_ACCEPTANCE


def test_trust_root_disable_is_audited(officer_client, personas):
    root = TrustRoot.objects.get(source="internal")
    response = officer_client.post(
        "/admin/certificates/trustroot/", {"action": "disable", "_selected_action": [root.pk]}
    )
    assert response.status_code == 302
    root.refresh_from_db()
    assert not root.enabled and Event.objects.filter(action="certificates.trust_root_disabled").exists()


def test_holder_page_shows_only_their_certificates_with_details(client, personas):
    client.force_login(personas["head1"])
    page = client.get("/pki/mine/").content.decode()
    own = selectors.certificate_for_signing(user=personas["head1"])
    other = selectors.certificate_for_signing(user=personas["head2"])
    assert own.serial_number in page and other.serial_number not in page
    assert own.not_after.strftime("%Y-") in page and "Issuing CA" in page


def test_agreement_page_accepts_for_the_holder_only(client, personas, outsider):
    from certificates import services

    cert = services.certificate_issue(user=outsider, actor=personas["admin"])
    url = f"/pki/agreement/{cert.pk}/{cert.agreement_token}/"
    client.force_login(personas["head1"])
    assert client.post(url).status_code == 404
    client.force_login(outsider)
    assert client.post(url).status_code == 302
    cert.refresh_from_db()
    assert cert.status == CertificateStatus.ACTIVE
    assert Event.objects.filter(action="certificates.agreement_accepted", target_id=str(cert.pk)).exists()


def test_issue_for_selected_users_then_resend_and_renew_actions(
    officer_client, personas, outsider, django_capture_on_commit_callbacks
):
    outsider.email = "outsider@dsign.example"
    outsider.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = officer_client.post(
            "/admin/certificates/certificate/enrol/", {"users": [outsider.pk, personas["head1"].pk]}
        )
    assert response.status_code == 302
    issued = Certificate.objects.get(user=outsider)
    assert Certificate.objects.filter(user=personas["head1"]).count() == 1  # holder skipped
    url = "/admin/certificates/certificate/"
    with django_capture_on_commit_callbacks(execute=True):
        officer_client.post(url, {"action": "resend_agreement", "_selected_action": [issued.pk]})
    assert len(mail.outbox) == 2 and mail.outbox[1].to == ["outsider@dsign.example"]
    old = selectors.certificate_for_signing(user=personas["director"])
    officer_client.post(url, {"action": "renew", "_selected_action": [old.pk]})
    new = Certificate.objects.filter(user=personas["director"]).exclude(pk=old.pk).get()
    assert new.status == CertificateStatus.PENDING_ACCEPTANCE and new.key_label != old.key_label
    assert Event.objects.filter(action="certificates.renewed", actor=personas["admin"]).exists()
