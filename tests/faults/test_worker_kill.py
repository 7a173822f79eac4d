"""kill -9 of the qcluster worker that is in the middle of a signature (issue 3, acceptance 3).

The TSA is held, so the worker sits inside `pades.sign_pdf` with the job and document rows locked when it
is killed; the whole cluster is then killed too, as a crashed machine would be, and a new one started.
"""

import json
import signal
import time

import pytest

# One worker of `-n 2` gets every test of the shared stack (built once); the topology check runs beside them.
pytestmark = [
    pytest.mark.faults,
    pytest.mark.slow,
    pytest.mark.hsm,
    pytest.mark.postgres,
    pytest.mark.xdist_group("fault_stack"),
]


def test_kill_9_mid_signing_loses_nothing_and_signs_nothing_twice(faults):
    document_id = faults.new_document()
    faults.tsa.release.clear()
    assert faults.approve("head1", document_id).status_code == 202

    assert faults.tsa.received.wait(timeout=60), "the worker never reached the TSA"
    pid = faults.sql("SELECT worker_pid FROM signing_signingattempt WHERE outcome = 'started' ORDER BY id DESC")[0][0]
    import os

    os.kill(pid, signal.SIGKILL)
    faults.stop_clusters(sig=signal.SIGKILL)
    faults.tsa.release.set()
    time.sleep(1)
    # Killed mid-transaction: nothing of the signature was committed.
    assert faults.signed_versions(document_id) == 0
    assert faults.job(document_id)[0]["status"] == "queued"

    faults.cluster()
    jobs = faults.wait_jobs(document_id, status="done")

    assert len(jobs) == 1
    assert faults.signed_versions(document_id) == 1
    assert faults.signature_fields(document_id) == ["Sig1_r1"]
    attempts = faults.sql("SELECT worker_pid, outcome FROM signing_signingattempt WHERE job_id = %s", [jobs[0]["id"]])
    assert (pid, "started") in attempts and sum(1 for _, o in attempts if o == "success") == 1
    seat = next(a for a in faults.document(document_id)["tiers"][0]["assignments"] if a["signer"] == "head1")
    assert seat["status"] == "signed"
    report = faults.verify_pdf(document_id)
    assert report.returncode == 0, report.stdout
    signature = json.loads(report.stdout)["signatures"][0]
    assert signature["timestamp"] and signature["level"] in ("B-T", "B-LT", "B-LTA")
    assert faults.audit_verify().returncode == 0
