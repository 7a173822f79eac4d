"""Enrolment, renewal, agreement, revocation and the REST API of certificates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import OrgUnit, User
from audit.models import Event
from certificates import external, selectors, services
from certificates.models import Certificate, CertificateStatus
from signing import services as signing_services
from signing.models import JobStatus, PadesLevel, SigningJob
from tests.certificates.conftest import approved
from tests.conftest import make_otp
from workflows import services as workflow_services
from workflows.models import Document, WorkflowTemplate

pytestmark = [pytest.mark.hsm, pytest.mark.django_db]


def _new_member(unit_code: str, username: str) -> User:
    return User.objects.create_user(
        username, email=f"{username}@dsign.example", org_unit=OrgUnit.objects.get(code=unit_code),
        first_name_th="ทดสอบ", last_name_th=username,
    )  # fmt: skip


def test_org_unit_enrolment_issues_for_members_without_a_certificate_and_mails_the_agreement(
    personas, django_capture_on_commit_callbacks
):
    newcomer = _new_member("it", "newcomer")
    deep = OrgUnit.objects.create(code="it-dev", name_th="ฝ่ายพัฒนา", parent=OrgUnit.objects.get(code="it"))
    nested = _new_member("it-dev", "nested")
    with django_capture_on_commit_callbacks(execute=True):
        result = services.certificates_issue_for_org_unit(org_unit=deep.parent, actor=personas["admin"])
    assert {c.user.username for c in result.issued} == {"newcomer", "nested"}
    assert {"head1", "requester", "admin"} <= set(result.skipped)  # they already hold one
    for user in (newcomer, nested):
        cert = Certificate.objects.get(user=user)
        assert cert.status == CertificateStatus.PENDING_ACCEPTANCE
        assert cert.not_after - cert.not_before >= timedelta(days=365)
        assert selectors.certificate_for_signing(user=user) is None
    assert sorted(m.to[0] for m in mail.outbox) == ["nested@dsign.example", "newcomer@dsign.example"]
    assert "/pki/agreement/" in mail.outbox[0].alternatives[0][0]
    assert Event.objects.filter(action="certificates.enrolment_started", target_id=str(deep.parent.pk)).exists()
    assert Event.objects.filter(action="certificates.agreement_email_sent").count() == 2


def test_resend_makes_a_new_link_and_the_old_one_stops_working(personas, outsider, django_capture_on_commit_callbacks):
    outsider.email = "o@dsign.example"
    outsider.save()
    cert = services.certificate_issue(user=outsider, actor=personas["admin"])
    old_token = cert.agreement_token
    with django_capture_on_commit_callbacks(execute=True):
        services.agreement_resend(certificate=cert, actor=personas["admin"])
    cert.refresh_from_db()
    assert cert.agreement_token != old_token and cert.agreement_token in mail.outbox[-1].body
    with pytest.raises(PermissionError):
        services.certificate_accept(certificate=cert, actor=outsider, token=old_token)
    with pytest.raises(PermissionError):
        services.certificate_accept(certificate=cert, actor=personas["head1"], token=cert.agreement_token)
    services.certificate_accept(certificate=cert, actor=outsider, token=cert.agreement_token)
    with pytest.raises(services.CertificateStateError, match="pending acceptance"):
        services.agreement_resend(certificate=cert, actor=personas["admin"])


def test_renewal_supersedes_the_old_certificate_only_after_acceptance(personas):
    head3 = personas["head3"]
    old = selectors.certificate_for_signing(user=head3)
    new = services.certificate_renew(certificate=old, actor=personas["admin"])
    assert new.key_label != old.key_label and new.status == CertificateStatus.PENDING_ACCEPTANCE
    assert selectors.certificate_for_signing(user=head3) == old  # still signs until the new one is accepted
    services.certificate_accept(certificate=new, actor=head3, token=new.agreement_token)
    old.refresh_from_db()
    assert old.status == CertificateStatus.SUPERSEDED and old.superseded_by == new
    assert selectors.certificate_for_signing(user=head3) == new
    assert Event.objects.filter(action="certificates.renewed", target_id=str(new.pk)).exists()
    with pytest.raises(selectors.CertificateNotUsable, match="not active"):
        selectors.signing_credentials_get(certificate_id=old.pk)


def test_expired_status_is_set_by_the_daily_task_and_stops_signing(personas, outsider):
    cert = services.certificate_issue(user=outsider, actor=personas["admin"], validity_days=400, accept_now=True)
    assert services.certificates_expire(now=cert.not_after - timedelta(seconds=1)) == 0
    assert services.certificates_expire(now=cert.not_after + timedelta(seconds=1)) == 1
    cert.refresh_from_db()
    assert cert.status == CertificateStatus.EXPIRED
    with pytest.raises(services.CertificateStateError):
        services.certificate_renew(certificate=services.certificate_revoke(certificate=cert, actor=None), actor=None)


def test_a_queued_signature_whose_certificate_is_revoked_fails_permanently_with_the_reason(personas, pdf_bytes):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = PadesLevel.B_B
    template.save()
    document = workflow_services.route_start(title="t", pdf=pdf_bytes, template=template, actor=personas["requester"])
    head2 = personas["head2"]
    workflow_services.decision_approve(document=document, actor=head2, otp=make_otp(head2))
    job = SigningJob.objects.get(subject_id=document.pk)
    assert job.status == JobStatus.QUEUED  # on_commit has not run: the job waits in the queue
    services.certificate_revoke(certificate=Certificate.objects.get(pk=job.certificate_id), actor=personas["admin"])
    assert signing_services.signing_job_run(job_id=job.pk) == JobStatus.FAILED
    job.refresh_from_db()
    assert job.error_code == "certificate_not_usable" and "revoked" in job.error_message
    assert "revoked" in Document.objects.get(pk=document.pk).waiting_reason
    other = workflow_services.route_start(title="t2", pdf=pdf_bytes, template=template, actor=personas["requester"])
    with pytest.raises(workflow_services.WorkflowError, match="no active signing certificate"):
        workflow_services.decision_approve(document=other, actor=head2, otp=make_otp(head2))


# --- API ---------------------------------------------------------------------------------------------


def test_holders_see_their_own_and_officers_auditors_see_all(personas, api_for):
    own = api_for(personas["head1"]).get("/api/v1/certificates/")
    assert own.status_code == 200
    assert {row["user"] for row in own.json()["results"]} == {"head1"}
    every = api_for(personas["auditor"]).get("/api/v1/certificates/")
    assert {row["user"] for row in every.json()["results"]} >= {"head1", "head2", "director"}
    it_only = api_for(personas["admin"]).get("/api/v1/certificates/?org_unit=it").json()["results"]
    assert {row["org_unit"] for row in it_only} == {"it"}
    soon = api_for(personas["admin"]).get("/api/v1/certificates/?expiring_within=30").json()["results"]
    assert soon == []
    later = api_for(personas["admin"]).get("/api/v1/certificates/?expiring_within=1000&status=active").json()
    assert later["count"] == 7
    bad = api_for(personas["admin"]).get("/api/v1/certificates/?expiring_within=soon")
    assert bad.status_code == 400 and "expiring_within" in bad.json()["detail"]
    other = selectors.certificate_for_signing(user=personas["head2"])
    assert api_for(personas["head1"]).get(f"/api/v1/certificates/{other.pk}/").status_code == 404
    detail = api_for(personas["head2"]).get(f"/api/v1/certificates/{other.pk}/").json()
    assert detail["serial_number"] == other.serial_number and detail["issuer_cn"].endswith("Issuing CA")
    assert detail["not_after"] and detail["created_at"] and detail["subject_cn"] == "นางวิไล ศรีสุข"


def test_api_csr_import_accept_round_trip(personas, api_for, external_ca, tmp_path):
    admin, head3 = personas["admin"], personas["head3"]
    approved(external.trust_root_add(name="NRCA", source="nrca", data=external_ca.cert.read_bytes(), actor=admin))
    request = services.certificate_request_external(user=head3, actor=admin)
    csr = api_for(head3).get(f"/api/v1/certificates/{request.pk}/csr/")
    assert csr.status_code == 200 and csr.content.startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    leaf = external_ca.sign_csr(csr.content.decode(), name="api")
    _, wrong = external_ca.issue_with_new_key(name="wrong")
    url = f"/api/v1/certificates/{request.pk}/import/"
    refused = api_for(admin).post(url, {"file": SimpleUploadedFile("w.crt", wrong.read_bytes())}, format="multipart")
    assert refused.status_code == 400 and "does not match the key" in refused.json()["detail"]
    assert api_for(admin).post(url, {}, format="multipart").status_code == 400
    assert api_for(personas["head1"]).post(url, {"file": SimpleUploadedFile("a", b"x")}).status_code == 404
    done = api_for(head3).post(url, {"file": SimpleUploadedFile("c.crt", leaf.read_bytes())}, format="multipart")
    assert done.status_code == 200 and done.json()["status"] == "pending_acceptance", done.content
    again = api_for(head3).post(url, {"file": SimpleUploadedFile("c.crt", leaf.read_bytes())}, format="multipart")
    assert again.status_code == 409
    token = Certificate.objects.get(pk=request.pk).agreement_token
    accept_url = f"/api/v1/certificates/{request.pk}/accept/"
    assert api_for(head3).post(accept_url, {"token": "nope"}, format="json").status_code == 403
    accepted = api_for(head3).post(accept_url, {"token": token}, format="json")
    assert accepted.status_code == 200 and accepted.json()["status"] == "active"
    assert api_for(head3).post(accept_url, {"token": token}, format="json").status_code == 409


def test_api_revoke_rules(personas, api_for):
    cert = selectors.certificate_for_signing(user=personas["director"])
    url = f"/api/v1/certificates/{cert.pk}/revoke/"
    assert api_for(personas["auditor"]).post(url, {"reason": "unspecified"}, format="json").status_code == 403
    bad = api_for(personas["admin"]).post(url, {"reason": "because"}, format="json")
    assert bad.status_code == 400 and "key_compromise" in bad.json()["detail"]
    assert api_for(personas["admin"]).post(url, {"reason": "superseded"}, format="json").status_code == 200
    assert api_for(personas["admin"]).post(url, {"reason": "superseded"}, format="json").status_code == 409
    event = Event.objects.get(action="certificates.revoked", target_id=str(cert.pk))
    assert event.actor == personas["admin"] and event.details == {"reason": "superseded"}
    assert timezone.now() - Certificate.objects.get(pk=cert.pk).revoked_at < timedelta(minutes=1)
