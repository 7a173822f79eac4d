"""/healthz and /readyz: answered without login for a load balancer's address; 503 names what is down."""

from __future__ import annotations

import os

import pytest
from django.conf import settings

from core import hsm
from dsign import health
from tests.support.web import gunicorn, http_json

pytestmark = [pytest.mark.django_db, pytest.mark.hsm]

PROBE_HOST = "172.18.0.5:8000"  # a container address, not in ALLOWED_HOSTS


def test_liveness_answers_a_probe_by_address_without_login(client):
    response = client.get("/healthz", HTTP_HOST=PROBE_HOST)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ready_when_database_hsm_ca_worker_and_storage_are_up(client):
    health.heartbeat_record(worker="test-worker")
    response = client.get("/readyz", HTTP_HOST=PROBE_HOST)
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "hsm", "ca", "worker", "storage"}
    assert body["checks"]["hsm"]["free_sessions"] >= 1
    assert response["Cache-Control"] == "no-store"


def test_not_ready_when_no_worker_ran_the_heartbeat(client):
    response = client.get("/readyz", HTTP_HOST=PROBE_HOST)
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == {"status": "fail", "error": "no_worker_seen"}


def test_not_ready_when_the_last_heartbeat_is_older_than_the_limit(client, settings):
    health.heartbeat_record(worker="test-worker")
    settings.HEALTH_WORKER_MAX_AGE = -1
    assert client.get("/readyz").json()["checks"]["worker"]["error"] == "worker_silent"


def test_not_ready_when_the_configured_token_is_missing(client):
    health.heartbeat_record(worker="test-worker")
    hsm.configure(
        hsm.HSMConfig(module_path=settings.PKCS11_MODULE, token_label="no-such-token", user_pin="wrong", pool_size=1)
    )
    response = client.get("/readyz", HTTP_HOST=PROBE_HOST)
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["checks"]["hsm"]["status"] == "fail"
    assert body["checks"]["ca"] == {"status": "skipped", "error": "needs_hsm"}
    assert body["checks"]["database"]["status"] == "ok"


def test_the_report_shows_no_pin_label_or_module_path(client):
    hsm.configure(
        hsm.HSMConfig(module_path=settings.PKCS11_MODULE, token_label="secret-label", user_pin="pin-1234", pool_size=1)
    )
    text = client.get("/readyz").content.decode()
    for secret in ("secret-label", "pin-1234", settings.PKCS11_MODULE, settings.HSM_PIN, str(settings.VAR_DIR)):
        assert secret not in text


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_a_real_server_is_ready_and_answers_503_when_its_softhsm_conf_names_an_empty_token_dir(tmp_path):
    health.heartbeat_record(worker="test-worker")
    empty = tmp_path / "tokens"
    empty.mkdir()
    broken_conf = tmp_path / "softhsm2.conf"
    broken_conf.write_text(f"directories.tokendir = {empty}\nobjectstore.backend = file\n")
    base_env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
        "HSM_POOL_SIZE": "1",
    }
    results = {}
    for name, conf in (("token", str(settings.SOFTHSM2_CONF)), ("broken", str(broken_conf))):
        with gunicorn({**base_env, "SOFTHSM2_CONF": conf}) as base:
            results[name] = http_json(f"{base}/readyz")
    assert results["token"][0] == 200, results["token"]
    status, body = results["broken"]
    assert status == 503
    assert body["checks"]["hsm"] == {"status": "fail", "error": "token_unavailable"}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_a_starting_cluster_makes_the_instance_ready_before_its_first_scheduled_heartbeat(tmp_path):
    # No schedule in this database: only the started worker itself can say it is there.
    import subprocess
    import sys
    import time

    from dsign.models import WorkerHeartbeat
    from tests.support.web import ROOT

    assert not WorkerHeartbeat.objects.exists()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
        "REDIS_URL": "",
        "Q_SYNC": "false",
        "Q_WORKERS": "1",
    }
    with gunicorn(env) as base:
        assert http_json(f"{base}/readyz")[1]["checks"]["worker"]["error"] == "no_worker_seen"
        log = open(tmp_path / "qcluster.log", "wb")  # noqa: SIM115 - closed below
        cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            status, body = http_json(f"{base}/readyz")
            while status != 200 and time.monotonic() < deadline:
                time.sleep(0.5)
                status, body = http_json(f"{base}/readyz")
        finally:
            cluster.terminate()
            cluster.wait(timeout=30)
            log.close()
    assert status == 200, (body, (tmp_path / "qcluster.log").read_text()[-2000:])
    assert body["checks"]["worker"]["seen_seconds_ago"] <= 30
