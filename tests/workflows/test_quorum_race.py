"""Three heads approve the same memo-2-tier document at the same instant, over real HTTP requests.

Each request runs in its own server thread with its own database connection; a barrier releases them
together. Exactly two approvals are taken and the third head gets 409; tier 2 does not open on approvals
(quorum counts signatures in the file, see test_signing_integrity.py), so with the signing jobs only
enqueued (django-q2 asynchronous, ORM broker; the loop stays fast) tier 1 stays active, its third seat
pending and the director not yet told. On PostgreSQL it repeats 100 times.
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
from signing.models import PadesLevel, SigningJob
from tests.conftest import blank_pdf, make_otp
from workflows import services
from workflows.models import Assignment, AssignmentStatus, Notification, RouteTier, TierStatus, WorkflowTemplate

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

HEADS = ("head1", "head2", "head3")
CODE = "135790"


@pytest.fixture
def bb_template(db):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = PadesLevel.B_B
    template.save()
    return template


def _race_once(*, base_url: str, document_id: int, tokens: dict[str, str]) -> dict[str, tuple[int, dict]]:
    barrier = threading.Barrier(len(tokens))
    results: dict[str, tuple[int, dict]] = {}

    def approve(name: str) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Token {tokens[name]}"
            try:
                barrier.wait(timeout=30)
            except threading.BrokenBarrierError:
                pass
            response = session.post(
                f"{base_url}/api/v1/documents/{document_id}/approve/", json={"otp": CODE}, timeout=60
            )
            results[name] = (response.status_code, response.json())

    threads = [threading.Thread(target=approve, args=(name,)) for name in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_three_heads_racing_exactly_two_approvals_are_taken_and_tier_two_waits_for_signatures(
    live_server, personas, bb_template, monkeypatch
):
    monkeypatch.setattr(Conf, "SYNC", False)
    repeats = int(os.environ.get("RACE_REPEATS", 100 if connection.vendor == "postgresql" else 5))
    tokens = {name: Token.objects.get_or_create(user=personas[name])[0].key for name in HEADS}
    anomalies = []
    for round_number in range(repeats):
        document = services.route_start(
            title=f"race {round_number}", pdf=blank_pdf(), template=bb_template, actor=personas["requester"]
        )
        for name in HEADS:
            make_otp(personas[name], CODE)
        results = _race_once(base_url=live_server.url, document_id=document.pk, tokens=tokens)

        codes = sorted(status for status, _ in results.values())
        tier1 = RouteTier.objects.get(document=document, round=1, order=1)
        tier2 = RouteTier.objects.get(document=document, round=1, order=2)
        seats = dict(Assignment.objects.filter(tier=tier1).values_list("signer__username", "status"))
        loser = next((name for name, (status, _) in results.items() if status == 409), None)
        opened = [
            e
            for e in Event.objects.filter(
                action="route.tier_opened", target_type="workflows.document", target_id=str(document.pk)
            )
            if e.details.get("tier") == 2
        ]
        observed = {
            "codes": codes,
            "seats": sorted(seats.values()),
            "loser_seat": seats.get(loser),
            "tier1": tier1.status,
            "tier2": tier2.status,
            "tier2_opened": len(opened),
            "jobs": SigningJob.objects.filter(subject_id=document.pk).count(),
            "director_told": Notification.objects.filter(
                document=document, user=personas["director"], kind="assigned"
            ).count(),
        }
        expected = {
            "codes": [202, 202, 409],
            "seats": sorted([AssignmentStatus.APPROVED, AssignmentStatus.APPROVED, AssignmentStatus.PENDING]),
            "loser_seat": AssignmentStatus.PENDING,
            "tier1": TierStatus.ACTIVE,
            "tier2": TierStatus.PENDING,
            "tier2_opened": 0,
            "jobs": 2,
            "director_told": 0,
        }
        if observed != expected:
            anomalies.append((round_number, observed, {k: v[1] for k, v in results.items() if v[0] != 202}))
    assert anomalies == [], anomalies[:3]
