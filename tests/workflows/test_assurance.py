"""Assurance levels: a template's minimum AAL refuses codes from weaker factors (without spending them),
its minimum IAL refuses signers whose certificate records weaker identity proofing; the CA officer sets
the IAL in the admin and the holder sees it."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from certificates.models import Certificate, CertificateStatus
from signing.models import PadesLevel
from tests.conftest import admin_login, api_client_for, make_otp
from tests.workflows.helpers import upload
from workflows.models import WorkflowTemplate

pytestmark = [pytest.mark.hsm, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _template(**levels) -> WorkflowTemplate:
    WorkflowTemplate.objects.filter(code="memo-2-tier").update(pades_level=PadesLevel.B_B, **levels)
    return WorkflowTemplate.objects.get(code="memo-2-tier")


def _totp_code(user) -> str:
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def _approve(user, document_id: int, code: str, **headers):
    return api_client_for(user).post(
        f"/api/v1/documents/{document_id}/approve/", {"otp": code}, format="json", **headers
    )


def test_a_template_requiring_aal2_refuses_a_backup_code_and_accepts_an_authenticator_app(personas, pdf_bytes):
    _template(min_aal=2)
    head1 = personas["head1"]
    document = upload(personas["requester"], pdf_bytes)
    backup = make_otp(head1)
    # The stored token is sealed for the signer (issue 16): "not spent" is the row still being there.
    backup_codes = StaticToken.objects.filter(device__user=head1).count()
    refused = _approve(head1, document["id"], backup, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 403
    assert "AAL2" in refused.json()["detail"] and "backup" in refused.json()["detail"]
    assert StaticToken.objects.filter(device__user=head1).count() == backup_codes  # not spent

    accepted = _approve(head1, document["id"], _totp_code(head1))
    assert accepted.status_code == 202, accepted.content
    from audit.models import Event

    approved = Event.objects.filter(action="document.approved", actor_repr="head1").first()
    assert approved.details["aal"] == 2


def test_a_template_requiring_ial2_refuses_a_signer_whose_certificate_records_ial1(personas, pdf_bytes):
    _template(min_ial=2)
    head2 = personas["head2"]
    document = upload(personas["requester"], pdf_bytes)
    refused = _approve(head2, document["id"], make_otp(head2))
    assert refused.status_code == 403 and "IAL2" in refused.json()["detail"]

    certificate = Certificate.objects.get(user=head2, status=CertificateStatus.ACTIVE)
    officer = admin_login(Client(), personas["admin"])
    page = officer.get(f"/admin/certificates/certificate/{certificate.pk}/change/")
    assert page.status_code == 200 and 'name="identity_proofing_level"' in page.content.decode()
    Certificate.objects.filter(pk=certificate.pk).update(
        identity_proofing_level=2, identity_proofing_method="thaid", identity_proofing_reference="TH-2026-000123"
    )
    accepted = _approve(head2, document["id"], make_otp(head2, "135791"))
    assert accepted.status_code == 202, accepted.content
    shown = api_client_for(head2).get(f"/api/v1/certificates/{certificate.pk}/").json()
    assert (shown["identity_proofing_level"], shown["identity_proofing_method"]) == (2, "thaid")
    me = Client()
    me.force_login(head2)
    assert "IAL2" in me.get("/me/").content.decode()


def test_only_the_ca_officer_can_edit_the_identity_proofing_in_the_admin(personas):
    from django.contrib.admin.sites import site
    from django.test import RequestFactory

    from certificates.admin import CertificateAdmin

    admin = CertificateAdmin(Certificate, site)
    request = RequestFactory().get("/admin/")
    request.user = personas["admin"]
    assert "identity_proofing_level" not in admin.get_readonly_fields(request)
    request.user = personas["auditor"]
    assert "identity_proofing_level" in admin.get_readonly_fields(request)
