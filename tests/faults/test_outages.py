"""Outages of what signing depends on: HSM, TSA, PostgreSQL, storage. Each time: the job waits or is
retried, the level is not lowered, nothing is lost or signed twice, the audit chain verifies, and work
resumes by itself (the sweeper schedule) once the fault is gone."""

import json
import threading
import time

import pytest
import requests

# One worker of `-n 2` gets every test of the shared stack (built once); the topology check runs beside them.
pytestmark = [
    pytest.mark.faults,
    pytest.mark.slow,
    pytest.mark.hsm,
    pytest.mark.postgres,
    pytest.mark.xdist_group("fault_stack"),
]


def assert_signed_once(faults, document_id: int, fields: list[str]) -> None:
    assert faults.signed_versions(document_id) == len(fields)
    assert sorted(faults.signature_fields(document_id)) == sorted(fields)
    report = faults.verify_pdf(document_id)
    assert report.returncode == 0, report.stdout
    for signature in json.loads(report.stdout)["signatures"]:
        assert signature["timestamp"] and signature["level"] in ("B-T", "B-LT", "B-LTA")


def test_hsm_unavailable_job_waits_with_reason_then_resumes(faults, tmp_path):
    empty = tmp_path / "no-token"
    (empty / "tokens").mkdir(parents=True)
    conf = empty / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {empty / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    document_id = faults.new_document()
    # The signer is the one process that uses the users' token (issue 16): it loses the HSM after the
    # approval was accepted (activation data issued), before the worker asks it to sign.
    faults.stop_clusters()
    assert faults.approve("head1", document_id).status_code == 202
    faults.stack.stop("signer")
    faults.stack.start_signer(SOFTHSM2_CONF=str(conf))
    faults.cluster()
    job = faults.wait_jobs(document_id, status="waiting", timeout=60)[0]
    assert job["error_code"] == "hsm_unavailable"
    assert "HSM" in faults.document(document_id)["waiting_reason"]
    assert faults.signed_versions(document_id) == 0

    faults.stack.stop("signer")
    faults.stack.start_signer()
    faults.wait_jobs(document_id, status="done")
    assert faults.document(document_id)["waiting_reason"] == ""
    assert_signed_once(faults, document_id, ["Sig1_r1"])
    assert faults.audit_verify().returncode == 0


def test_tsa_down_b_t_job_waits_not_lowered_and_resumes_when_it_returns(faults):
    faults.tsa.stop()
    document_id = faults.new_document()
    assert faults.approve("head1", document_id).status_code == 202
    job = faults.wait_jobs(document_id, status="waiting", timeout=60)[0]
    assert job["level"] == "B-T" and job["error_code"] == "service_unavailable"
    assert "timestamp" in faults.document(document_id)["waiting_reason"]
    assert faults.signed_versions(document_id) == 0

    faults.tsa.start()
    faults.wait_jobs(document_id, status="done")
    assert faults.document(document_id)["waiting_reason"] == ""
    assert_signed_once(faults, document_id, ["Sig1_r1"])
    assert faults.audit_verify().returncode == 0


def test_full_disk_stores_nothing_half_signed_and_the_job_is_retried(faults):
    document_id = faults.new_document()
    faults.disk_full_flag.touch()
    assert faults.approve("head1", document_id).status_code == 202
    deadline = time.monotonic() + 60
    while not faults.sql(
        "SELECT 1 FROM signing_signingattempt a JOIN signing_signingjob j ON a.job_id = j.id WHERE j.subject_id = %s",
        [document_id],
    ):
        assert time.monotonic() < deadline, "no signing attempt was made"
        time.sleep(0.3)
    deadline = time.monotonic() + 60
    while faults.job(document_id)[0]["status"] != "waiting":
        assert time.monotonic() < deadline, faults.job(document_id)
        time.sleep(0.3)
    job = faults.job(document_id)[0]
    assert job["error_code"] == "storage_unavailable" and "disk is full" in job["error_message"], job
    assert faults.signed_versions(document_id) == 0
    detail = faults.document(document_id)
    assert "disk is full" in detail["waiting_reason"]  # the document says why it waits
    seat = next(a for a in detail["tiers"][0]["assignments"] if a["signer"] == "head1")
    assert seat["status"] == "approved"  # the decision is kept while the signature cannot be stored

    faults.disk_full_flag.unlink()
    faults.wait_jobs(document_id, status="done")
    assert_signed_once(faults, document_id, ["Sig1_r1"])
    assert faults.audit_verify().returncode == 0


def test_postgres_connections_dropped_mid_run_lose_no_acknowledged_approval(faults):
    documents = [faults.new_document() for _ in range(6)]
    stop = threading.Event()
    terminated = []

    def drop_connections():
        while not stop.is_set():
            rows = faults.sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            terminated.append(len(rows))
            time.sleep(0.4)

    dropper = threading.Thread(target=drop_connections)
    dropper.start()
    acknowledged, refused = [], []
    try:
        for document_id in documents:
            for head in ("head1", "head2"):
                try:
                    response = faults.approve(head, document_id)
                except requests.RequestException:
                    response = None
                (acknowledged if response is not None and response.status_code == 202 else refused).append(
                    (head, document_id)
                )
    finally:
        stop.set()
        dropper.join()
    assert sum(terminated) > 0, "no connection was ever dropped"

    # A client retries what was not acknowledged; a decision that did commit answers 409 (already decided).
    for head, document_id in refused:
        response = faults.approve(head, document_id)
        assert response.status_code in (202, 409), response.text
        acknowledged.append((head, document_id))

    for document_id in documents:
        faults.wait_jobs(document_id, status="done", count=2)
        assert_signed_once(faults, document_id, ["Sig1_r1", "Sig2_r1"])
    assert len(acknowledged) == 2 * len(documents)
    assert faults.audit_verify().returncode == 0
