"""Issue 15, acceptance 3: "approve, then recall / cancel / return / reject at once", raced for real.

Each round head1 approves over HTTP (live server, django-q2 asynchronous so the job only waits in the
queue); then a barrier releases, together, a worker thread that runs the real signing job (HSM key,
pyHanko) and a request that ends the route (the requester recalls, head2 returns or rejects, an admin
cancels). Each side has its own database connection. Whoever wins, no signature may exist after the
route left `in_progress`: either the signature was stored first (and the ending came after it), or the
job refused and the approval was withdrawn. On PostgreSQL it repeats 100 times.
"""

from __future__ import annotations

import os
import threading

import pytest
import requests
from django.db import connection
from django_q.conf import Conf
from rest_framework.authtoken.models import Token

from audit.models import Event
from signing import services as signing_services
from signing.models import JobStatus, PadesLevel, SigningJob
from tests.conftest import blank_pdf, make_otp
from workflows import services
from workflows.models import Assignment, AssignmentStatus, Document, DocumentStatus, DocumentVersion, WorkflowTemplate

pytestmark = [pytest.mark.postgres, pytest.mark.hsm, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CODE = "246813"
ENDINGS = ("recall", "cancel", "return", "reject")
ENDED_BY = {
    "recall": "document.recalled",
    "cancel": "document.cancelled",
    "return": "document.returned",
    "reject": "document.rejected",
}


def _end(how: str, *, base_url: str, document_id: int, tokens: dict[str, str], admin) -> None:
    if how == "cancel":
        services.route_cancel(document=Document.objects.get(pk=document_id), actor=admin, reason="ซ้ำซ้อน")
        return
    who, body = ("requester", {}) if how == "recall" else ("head2", {"comment": "ไม่เห็นชอบ"})
    response = requests.post(
        f"{base_url}/api/v1/documents/{document_id}/{how}/",
        json=body,
        headers={"Authorization": f"Token {tokens[who]}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text


def _race(*, how: str, job_id: int, base_url: str, document_id: int, tokens: dict[str, str], admin) -> list:
    barrier = threading.Barrier(2)
    failures: list = []

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            signing_services.signing_job_run(job_id=job_id)
        except Exception as exc:  # noqa: BLE001 - reported by the test, not swallowed
            failures.append(("worker", repr(exc)))
        finally:
            connection.close()

    def ender() -> None:
        try:
            barrier.wait(timeout=30)
            _end(how, base_url=base_url, document_id=document_id, tokens=tokens, admin=admin)
        except Exception as exc:  # noqa: BLE001
            failures.append(("ending", repr(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker), threading.Thread(target=ender)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return failures


def test_no_signature_lands_after_the_route_left_in_progress(live_server, personas, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = PadesLevel.B_B
    template.save()
    repeats = int(os.environ.get("RACE_REPEATS", 100 if connection.vendor == "postgresql" else 4))
    tokens = {name: Token.objects.get_or_create(user=personas[name])[0].key for name in ("requester", "head1", "head2")}
    anomalies, signed_first = [], 0
    for round_number in range(repeats):
        how = ENDINGS[round_number % len(ENDINGS)]
        document = services.route_start(
            title=f"race {round_number}", pdf=blank_pdf(), template=template, actor=personas["requester"]
        )
        make_otp(personas["head1"], CODE)
        approved = requests.post(
            f"{live_server.url}/api/v1/documents/{document.pk}/approve/",
            json={"otp": CODE, "sha256": DocumentVersion.objects.get(document=document).sha256},
            headers={"Authorization": f"Token {tokens['head1']}"},
            timeout=60,
        )
        assert approved.status_code == 202, approved.text
        seat = Assignment.objects.get(document=document, signer__username="head1")
        failures = _race(
            how=how,
            job_id=seat.signing_job_id,
            base_url=live_server.url,
            document_id=document.pk,
            tokens=tokens,
            admin=personas["admin"],
        )

        document.refresh_from_db()
        seat.refresh_from_db()
        job = SigningJob.objects.get(pk=seat.signing_job_id)
        signed = DocumentVersion.objects.filter(document=document, kind=DocumentVersion.Kind.SIGNED).count()
        events = Event.objects.filter(target_type="workflows.document", target_id=str(document.pk))
        ended = events.get(action=ENDED_BY[how]).pk
        made = list(
            Event.objects.filter(
                action="signing.signature_made", target_type="signing.signingjob", target_id=str(job.pk)
            ).values_list("pk", flat=True)
        )
        observed = {
            "failures": failures,
            "left_in_progress": document.status != DocumentStatus.IN_PROGRESS,
            "signature_after_the_end": any(pk > ended for pk in made),
            "consistent": (signed, len(made), job.status, seat.status)
            in ((1, 1, JobStatus.DONE, AssignmentStatus.SIGNED), (0, 0, JobStatus.FAILED, AssignmentStatus.CANCELLED)),
        }
        signed_first += bool(signed)
        expected = {"failures": [], "left_in_progress": True, "signature_after_the_end": False, "consistent": True}
        if observed != expected:
            anomalies.append((round_number, how, observed, (signed, len(made), job.status, seat.status)))
    assert anomalies == [], (
        anomalies[:3],
        f"in {signed_first} of {repeats} rounds the signature was stored before the route ended",
    )
