"""Issue 15, attacks 3 and 4: a signature lands only on the version its signer approved, only while the
route runs, and a tier completes on signatures in the file, never on approvals.

The signing worker is played by calling `signing_job_run` after the HTTP requests: the approvals' jobs
are enqueued on commit, which these (non-transactional) tests never reach, so each job runs exactly when
the test says — after a recall, a cancellation, a rejection or a return, as an attacker would time it.
"""

from __future__ import annotations

import io

import pytest
from django_otp.plugins.otp_static.models import StaticToken
from pyhanko.pdf_utils.reader import PdfFileReader

from audit.models import Event
from certificates import external as external_services
from certificates import selectors as certificate_selectors
from certificates import services as certificate_services
from signing import services as signing_services
from signing.models import JobStatus, PadesLevel, SigningJob
from tests.conftest import admin_login, api_client_for, blank_pdf, make_otp
from workflows import services
from workflows.models import (
    Assignment,
    AssignmentStatus,
    Document,
    DocumentStatus,
    DocumentVersion,
    Notification,
    WorkflowTemplate,
)

from .helpers import detail, latest_file, upload

pytestmark = [pytest.mark.hsm, pytest.mark.django_db]


@pytest.fixture
def bb_template(db):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = PadesLevel.B_B
    template.save()
    return template


CODE = "246810"


def approve(user, document_id: int, **body):
    return api_client_for(user).post(
        f"/api/v1/documents/{document_id}/approve/", {"otp": make_otp(user, CODE), **body}, format="json"
    )


def seat_of(document_id: int, username: str, round: int | None = None) -> Assignment:
    seats = Assignment.objects.filter(document_id=document_id, signer__username=username).order_by("-tier__round")
    return seats.filter(tier__round=round).get() if round else seats.first()


def run_job(seat: Assignment) -> SigningJob:
    """The worker picks the job up now."""
    signing_services.signing_job_run(job_id=seat.signing_job_id)
    return SigningJob.objects.get(pk=seat.signing_job_id)


def signatures_in(data: bytes) -> list[str]:
    """Field names of the approval signatures in `data`, in the order they were added to the file."""
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    return [s.field_name for s in sorted(reader.embedded_regular_signatures, key=lambda s: s.signed_revision)]


def events(document_id: int, *actions: str) -> list[str]:
    jobs = [str(pk) for pk in SigningJob.objects.filter(subject_id=document_id).values_list("pk", flat=True)]
    own = Event.objects.filter(target_type="workflows.document", target_id=str(document_id))
    signing = Event.objects.filter(target_type="signing.signingjob", target_id__in=jobs)
    return [e.action for e in (own | signing).order_by("id") if not actions or e.action in actions]


# --- what you see is what you sign ------------------------------------------------------------------------


def test_an_approval_with_a_stale_sha256_gets_409_and_decides_nothing(personas, bb_template):
    document_id = upload(personas["requester"], blank_pdf())["id"]
    shown = detail(personas["head1"], document_id)["version"]
    assert shown["number"] == 1 and len(shown["sha256"]) == 64
    # head2 sends it back; the requester resubmits a different file: head1's page is now stale.
    returned = api_client_for(personas["head2"]).post(
        f"/api/v1/documents/{document_id}/return/", {"comment": "แก้ไขวันที่"}, format="json"
    )
    assert returned.status_code == 200, returned.content
    services.route_resubmit(
        document=Document.objects.get(pk=document_id), actor=personas["requester"], pdf=blank_pdf(pages=2)
    )

    response = approve(personas["head1"], document_id, sha256=shown["sha256"])
    assert response.status_code == 409, response.content
    assert "sha256" in response.json()["detail"]
    seat = seat_of(document_id, "head1")
    assert seat.status == AssignmentStatus.PENDING and seat.signing_job_id is None
    assert response.json()["code"] == "stale_version"
    # Refused before the step-up: the one-time code is still unspent (its row is there; the table holds
    # a placeholder, the code itself is sealed for the signer, issue 16).
    assert StaticToken.objects.filter(device__user=personas["head1"]).exists()

    assert approve(personas["head1"], document_id, sha256="not-a-hash").status_code == 400
    current = detail(personas["head1"], document_id)["version"]
    response = approve(personas["head1"], document_id, sha256=current["sha256"])
    assert response.status_code == 202, response.content
    seat = seat_of(document_id, "head1")
    assert (seat.approved_sha256, seat.version_confirmed) == (current["sha256"], True)
    approved = Event.objects.filter(action="document.approved", target_id=str(document_id)).get()
    assert approved.details["sha256"] == current["sha256"] and approved.details["version_confirmed"] is True


def test_a_version_followed_only_by_dsign_signatures_is_still_the_one_shown(
    personas, bb_template, django_capture_on_commit_callbacks
):
    document_id = upload(personas["requester"], blank_pdf())["id"]
    shown = detail(personas["head2"], document_id)["version"]["sha256"]
    with django_capture_on_commit_callbacks(execute=True):
        assert approve(personas["head1"], document_id, sha256=shown).status_code == 202
    assert detail(personas["head2"], document_id)["version"]["number"] == 2  # head1's signature
    with django_capture_on_commit_callbacks(execute=True):
        response = approve(personas["head2"], document_id, sha256=shown)
    assert response.status_code == 202, response.content
    assert signatures_in(latest_file(personas["requester"], document_id)) == [
        seat_of(document_id, "head1").field_name,
        seat_of(document_id, "head2").field_name,
    ]


def test_an_api_approval_without_sha256_records_the_current_version_as_unconfirmed(personas, bb_template):
    document_id = upload(personas["requester"], blank_pdf())["id"]
    assert approve(personas["head1"], document_id).status_code == 202
    seat = seat_of(document_id, "head1")
    current = DocumentVersion.objects.get(document_id=document_id)
    assert (seat.approved_version_id, seat.approved_sha256, seat.version_confirmed) == (
        current.pk,
        current.sha256,
        False,
    )
    approved = Event.objects.filter(action="document.approved", target_id=str(document_id)).get()
    assert approved.details["version_confirmed"] is False


def test_the_office_page_sends_the_version_it_shows_and_is_refused_without_it(client, personas, bb_template):
    document_id = upload(personas["requester"], blank_pdf())["id"]
    client.force_login(personas["head1"])
    page = client.get(f"/documents/{document_id}/").content.decode()
    sha256 = DocumentVersion.objects.get(document_id=document_id).sha256
    assert f'name="sha256" value="{sha256}"' in page
    code = make_otp(personas["head1"])

    response = client.post(f"/documents/{document_id}/approve/", {"otp": code}, follow=True)
    assert "ฉบับ" in response.content.decode()  # "the page did not say which version you saw", in Thai
    assert seat_of(document_id, "head1").status == AssignmentStatus.PENDING

    stale = "0" * 64
    response = client.post(f"/documents/{document_id}/approve/", {"otp": code, "sha256": stale}, follow=True)
    assert "เอกสารถูกเปลี่ยน" in response.content.decode()
    assert seat_of(document_id, "head1").status == AssignmentStatus.PENDING

    client.post(f"/documents/{document_id}/approve/", {"otp": make_otp(personas["head1"]), "sha256": sha256})
    seat = seat_of(document_id, "head1")
    assert (seat.status, seat.approved_sha256, seat.version_confirmed) == (AssignmentStatus.APPROVED, sha256, True)


def test_the_inbox_batch_sends_each_version_and_a_stale_one_is_refused(client, personas, bb_template):
    first = upload(personas["requester"], blank_pdf(), title="หนึ่ง")["id"]
    second = upload(personas["requester"], blank_pdf(), title="สอง")["id"]
    client.force_login(personas["head1"])
    inbox = client.get("/inbox/").content.decode()
    for document_id in (first, second):
        sha256 = DocumentVersion.objects.get(document_id=document_id).sha256
        assert f'name="sha256_{document_id}" value="{sha256}"' in inbox
    posted = {
        "documents": [first, second],
        "otp": make_otp(personas["head1"]),
        f"sha256_{first}": DocumentVersion.objects.get(document_id=first).sha256,
        f"sha256_{second}": "f" * 64,
    }
    response = client.post("/batches/", posted)
    assert response.status_code == 200
    assert seat_of(first, "head1").status == AssignmentStatus.APPROVED
    assert seat_of(second, "head1").status == AssignmentStatus.PENDING


# --- no signature after the route left in_progress ----------------------------------------------------------


def _end_route(how: str, document_id: int, personas, admin_client) -> None:
    if how == "recall":
        response = api_client_for(personas["requester"]).post(f"/api/v1/documents/{document_id}/recall/", {})
        assert response.status_code == 200, response.content
    elif how in ("reject", "return"):
        response = api_client_for(personas["head2"]).post(
            f"/api/v1/documents/{document_id}/{how}/", {"comment": "ไม่เห็นชอบ"}, format="json"
        )
        assert response.status_code == 200, response.content
    else:
        response = admin_client.post(
            "/admin/workflows/document/",
            {"action": "cancel_with_reason", "_selected_action": [document_id], "apply": "1", "reason": "ซ้ำ"},
        )
        assert response.status_code in (200, 302), response.content
    assert Document.objects.get(pk=document_id).status != DocumentStatus.IN_PROGRESS


@pytest.mark.parametrize("how", ["recall", "cancel", "reject", "return"])
def test_an_approval_whose_route_ended_before_the_worker_ran_is_never_signed(how, client, personas, bb_template):
    admin_login(client, personas["admin"])
    document_id = upload(personas["requester"], blank_pdf())["id"]
    assert approve(personas["head1"], document_id).status_code == 202
    _end_route(how, document_id, personas, client)

    job = run_job(seat_of(document_id, "head1"))
    assert (job.status, job.error_code) == (JobStatus.FAILED, "route_ended")
    assert not DocumentVersion.objects.filter(document_id=document_id, kind=DocumentVersion.Kind.SIGNED).exists()
    assert signatures_in(latest_file(personas["requester"], document_id)) == []
    assert "signing.signature_made" not in events(document_id)
    assert seat_of(document_id, "head1").status == AssignmentStatus.CANCELLED
    # Running it again (django-q2 may deliver twice) changes nothing.
    assert run_job(seat_of(document_id, "head1")).status == JobStatus.FAILED


def test_six_documents_approved_as_a_batch_and_recalled_at_once_get_no_signature(personas, bb_template):
    ids = [upload(personas["requester"], blank_pdf(), title=f"ชุด {n}")["id"] for n in range(6)]
    shown = {str(pk): DocumentVersion.objects.get(document_id=pk).sha256 for pk in ids}
    response = api_client_for(personas["head1"]).post(
        "/api/v1/batches/", {"documents": ids, "otp": make_otp(personas["head1"]), "sha256": shown}, format="json"
    )
    assert response.status_code == 202 and response.json()["total"] == 6, response.content
    for pk in ids:
        assert api_client_for(personas["requester"]).post(f"/api/v1/documents/{pk}/recall/", {}).status_code == 200
    for pk in ids:
        assert run_job(seat_of(pk, "head1")).status == JobStatus.FAILED
        assert events(pk, "document.approved", "document.recalled", "signing.signature_made") == [
            "document.approved",
            "document.recalled",
        ]
    assert not DocumentVersion.objects.filter(document_id__in=ids, kind=DocumentVersion.Kind.SIGNED).exists()


def test_an_approval_of_the_first_round_cannot_sign_the_resubmitted_revision(personas, bb_template):
    document_id = upload(personas["requester"], blank_pdf())["id"]
    assert approve(personas["head1"], document_id).status_code == 202
    old_seat = seat_of(document_id, "head1")
    api_client_for(personas["head2"]).post(f"/api/v1/documents/{document_id}/return/", {"comment": "แก้"}, format="json")
    services.route_resubmit(
        document=Document.objects.get(pk=document_id), actor=personas["requester"], pdf=blank_pdf(pages=2)
    )
    assert Document.objects.get(pk=document_id).status == DocumentStatus.IN_PROGRESS

    job = run_job(old_seat)
    assert job.status == JobStatus.FAILED and job.error_code in ("decision_withdrawn", "route_changed")
    assert not DocumentVersion.objects.filter(document_id=document_id, kind=DocumentVersion.Kind.SIGNED).exists()
    # Every tier of the new round asks again, head1 included.
    assert seat_of(document_id, "head1", round=2).status == AssignmentStatus.PENDING
    assert seat_of(document_id, "head1", round=1).status == AssignmentStatus.CANCELLED


def test_a_version_stored_behind_dsigns_back_is_not_signed_and_the_seat_reopens(personas, bb_template):
    document_id = upload(personas["requester"], blank_pdf())["id"]
    assert approve(personas["head1"], document_id).status_code == 202
    # Someone with database and storage access swaps the file after the approval.
    services.version_store(
        document=Document.objects.get(pk=document_id), data=blank_pdf(pages=3), kind=DocumentVersion.Kind.SIGNED
    )
    job = run_job(seat_of(document_id, "head1"))
    assert (job.status, job.error_code) == (JobStatus.FAILED, "version_changed")
    seat = seat_of(document_id, "head1")
    assert seat.status == AssignmentStatus.PENDING and "เอกสารถูกเปลี่ยน" in seat.signing_error
    assert signatures_in(latest_file(personas["requester"], document_id)) == []

    # head1 looks at what is there now and approves again: a new job signs the same field, once.
    current = detail(personas["head1"], document_id)["version"]["sha256"]
    assert approve(personas["head1"], document_id, sha256=current).status_code == 202
    again = run_job(seat_of(document_id, "head1"))
    assert again.pk != job.pk and again.status == JobStatus.DONE, again.error_message
    assert signatures_in(latest_file(personas["requester"], document_id)) == [seat.field_name]
    assert seat_of(document_id, "head1").signing_error == ""


# --- quorum counts signatures, not intentions -----------------------------------------------------------------


def test_a_permanently_failing_signature_never_completes_a_tier_and_the_seat_reopens_with_the_reason(
    client, personas, bb_template, django_capture_on_commit_callbacks
):
    document_id = upload(personas["requester"], blank_pdf())["id"]
    assert approve(personas["head1"], document_id).status_code == 202
    with django_capture_on_commit_callbacks(execute=True):
        assert approve(personas["head2"], document_id).status_code == 202
    # Two approvals are all tier 1 takes while their signatures are owed.
    assert approve(personas["head3"], document_id).status_code == 409
    # head1's certificate is revoked before the worker reaches the job: it fails for good.
    certificate = certificate_selectors.certificate_for_signing(user=personas["head1"])
    certificate_services.certificate_revoke(certificate=certificate, actor=personas["admin"], reason="key_compromise")
    failed = run_job(seat_of(document_id, "head1"))
    assert (failed.status, failed.error_code) == (JobStatus.FAILED, "certificate_not_usable")

    body = detail(personas["head1"], document_id)
    tier1, tier2 = body["tiers"]
    assert (tier1["status"], tier2["status"]) == ("active", "pending")
    head1 = next(a for a in tier1["assignments"] if a["signer"] == "head1")
    assert head1["status"] == "pending" and head1["signing_error_code"] == "certificate_not_usable"
    assert "ใบรับรอง" in head1["signing_error"] and "ใบรับรอง" in body["waiting_reason"]
    as_admin = detail(personas["admin"], document_id)["tiers"][0]["assignments"]
    assert next(a for a in as_admin if a["signer"] == "head1")["signing_error"] == head1["signing_error"]
    for name in ("head1", "admin"):
        client.force_login(personas[name])
        assert "ใบรับรองของผู้ลงนามใช้ลงนามไม่ได้" in client.get(f"/documents/{document_id}/").content.decode()
    told = Notification.objects.filter(document_id=document_id, kind="signing_failed")
    assert {"head1", "admin"} <= set(told.values_list("user__username", flat=True))
    assert "assignment.reopened" in events(document_id)
    timeline = client.get(f"/documents/{document_id}/timeline/").content.decode()
    assert "เปิดให้อนุมัติใหม่" in timeline and "ใบรับรองของผู้ลงนามใช้ลงนามไม่ได้" in timeline

    # An admin retry cannot bring the withdrawn signature back (it would land after tier 2's).
    admin_login(client, personas["admin"])
    retried = client.post("/admin/signing/signingjob/", {"action": "retry", "_selected_action": [failed.pk]})
    assert retried.status_code in (200, 302) and "/login/" not in retried.get("Location", "")
    assert SigningJob.objects.get(pk=failed.pk).status == JobStatus.FAILED

    # The reopened seat makes room: head3 approves, tier 1 completes on two signatures, then the director.
    with django_capture_on_commit_callbacks(execute=True):
        assert approve(personas["head3"], document_id).status_code == 202
    assert [t["status"] for t in detail(personas["head1"], document_id)["tiers"]] == ["completed", "active"]
    with django_capture_on_commit_callbacks(execute=True):
        assert approve(personas["director"], document_id).status_code == 202
    body = detail(personas["requester"], document_id)
    assert body["status"] == "completed", body
    order = [seat_of(document_id, name).field_name for name in ("head2", "head3", "director")]
    assert signatures_in(latest_file(personas["requester"], document_id)) == order


def test_the_next_tier_never_opens_on_approvals_alone(personas, bb_template):
    document_id = upload(personas["requester"], blank_pdf())["id"]
    for name in ("head1", "head2"):
        assert approve(personas[name], document_id).status_code == 202
    assert [t["status"] for t in detail(personas["head1"], document_id)["tiers"]] == ["active", "pending"]
    assert approve(personas["director"], document_id).status_code == 403  # not their turn yet
    run_job(seat_of(document_id, "head1"))
    assert [t["status"] for t in detail(personas["head1"], document_id)["tiers"]] == ["active", "pending"]
    run_job(seat_of(document_id, "head2"))
    body = detail(personas["head1"], document_id)
    assert [t["status"] for t in body["tiers"]] == ["completed", "active"]
    assert next(a for a in body["tiers"][0]["assignments"] if a["signer"] == "head3")["status"] == "not_needed"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_b_lta_template_with_a_certificate_without_revocation_data_fails_instead_of_landing_b_t(
    live_server, personas, tmp_path
):
    from certificates.models import TrustRoot
    from tests.certificates.conftest import approved, make_openssl_ca

    # An external CA whose certificates name no CRL or OCSP address (the attack of issue 15).
    external = make_openssl_ca(tmp_path / "external-ca")
    approved(
        external_services.trust_root_add(
            name="Test NRCA", source=TrustRoot.Source.NRCA, data=external.cert.read_bytes(), actor=personas["admin"]
        )
    )
    head1 = personas["head1"]
    request = certificate_services.certificate_request_external(user=head1, actor=personas["admin"])
    leaf = external.sign_csr(request.csr_pem, name="head1")
    cert = external_services.certificate_import_issued(
        certificate=request, data=leaf.read_bytes() + external.cert.read_bytes(), actor=personas["admin"]
    )
    certificate_services.certificate_accept(certificate=cert, actor=head1, token=cert.agreement_token)
    assert WorkflowTemplate.objects.get(code="memo-2-tier").pades_level == PadesLevel.B_LTA

    document_id = upload(personas["requester"], blank_pdf(), title="B-LTA")["id"]
    assert approve(head1, document_id).status_code == 202
    job = SigningJob.objects.get(certificate_id=cert.pk)
    assert (job.status, job.error_code) == (JobStatus.FAILED, "level_not_reached"), job.error_message
    assert "B-T" in job.error_message
    assert not Event.objects.filter(action="signing.signature_made", target_id=str(job.pk)).exists()
    seat = detail(head1, document_id)["tiers"][0]["assignments"][0]
    assert seat["signer"] == "head1" and seat["status"] == "pending" and "PAdES" in seat["signing_error"]
    assert signatures_in(latest_file(personas["requester"], document_id)) == []

    # A certificate of the internal CA (CRL and OCSP addresses) reaches B-LT, and the audit says so.
    assert approve(personas["head2"], document_id).status_code == 202
    made = Event.objects.filter(action="signing.signature_made").order_by("-id").first()
    assert (made.details["level"], made.details["level_achieved"]) == ("B-LTA", "B-LT")
