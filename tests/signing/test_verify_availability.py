"""Issue 17, acceptance 4: hostile verifications never make an unrelated API call wait for them.

A live server (threaded, like gunicorn's threads) receives 20 concurrent uploads of a 1,000-revision file
from six users. Admission lets `VERIFY_MAX_CONCURRENT` run (each in its own niced, limited child) and
answers the rest 429 at once; meanwhile an unrelated call (the document list) is made and must come back
while hostile verifications are still running. Timings are printed for BENCHMARKS.md, never asserted.
"""

from __future__ import annotations

import io
import threading
import time

import pikepdf
import pytest
import requests

from tests.conftest import blank_pdf
from tests.signing import forgery_kit as kit

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

HOSTILE_UPLOADS = 20
REVISIONS = 1000


def thousand_revisions() -> bytes:
    """A signed page followed by 1,000 appended revisions (each a new /Info)."""
    from tests.signing.test_forgeries import _signed_by_a_stranger

    data = _signed_by_a_stranger(blank_pdf())
    with pikepdf.open(io.BytesIO(data)) as pdf:
        number = int(pdf.trailer.Size)
    for index in range(REVISIONS):
        data = kit.append_revision(data, {number + index: b"<< /Producer (rev %d) >>" % index})
    return data


def test_unrelated_call_answers_while_twenty_hostile_verifications_run(live_server, personas, settings):
    from rest_framework.authtoken.models import Token

    settings.VERIFY_MAX_CONCURRENT = 4
    settings.VERIFY_MAX_CONCURRENT_PER_USER = 2
    hostile = thousand_revisions()
    users = ["requester", "head1", "head2", "head3", "director", "auditor"]
    tokens = {name: Token.objects.get_or_create(user=personas[name])[0].key for name in users}
    url = f"{live_server.url}/api/v1/verify/"
    outcomes: list[tuple[int, float]] = []
    lock = threading.Lock()
    started = time.monotonic()

    def upload(index: int) -> None:
        token = tokens[users[index % len(users)]]
        response = requests.post(
            url,
            files={"file": ("hostile.pdf", hostile, "application/pdf")},
            headers={"Authorization": f"Token {token}"},
            timeout=120,
        )
        with lock:
            outcomes.append((response.status_code, time.monotonic() - started))

    threads = [threading.Thread(target=upload, args=(index,)) for index in range(HOSTILE_UPLOADS)]
    for thread in threads:
        thread.start()
    # wait until the admitted verifications are under way (the refused ones have come back already)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if sum(1 for status, _ in outcomes if status == 429) >= HOSTILE_UPLOADS - 4:
                break
        time.sleep(0.05)
    asked = time.monotonic()
    unrelated = requests.get(
        f"{live_server.url}/api/v1/documents/", headers={"Authorization": f"Token {tokens['auditor']}"}, timeout=60
    )
    answered = time.monotonic()
    with lock:
        still_running = HOSTILE_UPLOADS - len(outcomes)
    for thread in threads:
        thread.join(timeout=180)

    assert unrelated.status_code == 200
    statuses = [status for status, _ in outcomes]
    assert len(statuses) == HOSTILE_UPLOADS
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) <= 4 and statuses.count(429) >= HOSTILE_UPLOADS - 4
    # behavioural: the unrelated call came back while admitted hostile verifications were still running
    assert still_running > 0, outcomes
    slowest = max(at for _, at in outcomes)
    print(
        f"\nunrelated GET /api/v1/documents/ answered in {answered - asked:.3f} s with {still_running} hostile "
        f"verifications still running; slowest hostile answer after {slowest:.1f} s; statuses "
        f"{statuses.count(200)}x200 {statuses.count(429)}x429"
    )
