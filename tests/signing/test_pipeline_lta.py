"""Issue 3, acceptance 1: memo-2-tier through the API ends with three approval signatures and a document
timestamp; pdfsig says every signature is valid and trusted; pyHanko's LTA validation passes offline."""

import asyncio
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager

from certificates.selectors import trust_roots_list
from signing import verification
from tests.support.pdfsig import pdfsig_report
from workflows.models import Document

pytestmark = [pytest.mark.hsm, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_memo_2_tier_ends_b_lta_with_three_signatures_and_a_document_timestamp(
    live_server, personas, api_for, otp, pdf_bytes, tmp_path, client
):
    requester = api_for(personas["requester"])
    created = requester.post(
        "/api/v1/documents/",
        {"file": SimpleUploadedFile("m.pdf", pdf_bytes), "title": "บันทึกข้อความ LTA", "workflow": "memo-2-tier"},
        format="multipart",
    )
    assert created.status_code == 201, created.content
    document_id = created.json()["id"]
    for name in ("head1", "head2", "director"):
        response = api_for(personas[name]).post(
            f"/api/v1/documents/{document_id}/approve/", {"otp": otp(personas[name])}, format="json"
        )
        assert response.status_code == 202, response.content

    detail = requester.get(f"/api/v1/documents/{document_id}/").json()
    assert detail["status"] == "completed", detail
    statuses = {a["signer"]: a["status"] for tier in detail["tiers"] for a in tier["assignments"]}
    assert statuses == {"head1": "signed", "head2": "signed", "head3": "not_needed", "director": "signed"}

    data = b"".join(requester.get(f"/api/v1/documents/{document_id}/file/").streaming_content)
    path = tmp_path / "final.pdf"
    path.write_bytes(data)
    report = pdfsig_report(path, [client.get("/pki/root.crt").content], tmp_path)
    # pdfsig checks the three CMS signatures; it cannot check RFC 3161 document timestamps.
    assert report.count("Signature is Valid.") == 3
    assert report.count("Certificate is Trusted.") == 3
    assert "Signature is Invalid" not in report

    reader = PdfFileReader(io.BytesIO(data))
    assert len(reader.embedded_regular_signatures) == 3
    assert len(reader.embedded_timestamp_signatures) == 1

    # Offline: revocation data must come from the file itself (LOCAL_ONLY), for every signature.
    spec = PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=CertValidationPolicySpec(
                trust_manager=SimpleTrustManager.build(trust_roots=trust_roots_list()),
                revinfo_policy=CertRevTrustPolicy(revocation_checking_policy=REQUIRE_REVINFO),
            ),
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
            ),
        )
    )
    for embedded in reader.embedded_regular_signatures:
        result = asyncio.run(ades_lta_validation(embedded, spec))
        assert result.ades_subindic == AdESPassed.OK, result.api_status

    result = verification.verify_pdf_bytes(data=data, trust_roots=trust_roots_list())
    assert result["valid"], result
    assert [s["level"] for s in result["signatures"]] == ["B-LTA"] * 3
    assert Document.objects.get(pk=document_id).versions.filter(kind="timestamped").count() == 1
