"""Issue 11, acceptance 1: the production topology (PostgreSQL, Redis, two gunicorn web processes, two
qcluster processes, the SoftHSM token standing in for a network HSM) comes up from its one command and the
API flow of DESIGN.md works on it: upload, three approvals with OTPs, B-LTA completion, verify_pdf exit 0."""

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from bench.stack import free_port

from .conftest import PG_ADMIN_URL, REDIS_URL

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.slow]


def test_topology_check_runs_the_api_flow_on_postgres_and_redis_with_two_workers():
    with tempfile.TemporaryDirectory(prefix="dsign-topology-") as state:
        env = {
            **os.environ,
            "TOPOLOGY_VAR_DIR": state,
            "TOPOLOGY_DATABASE_URL": f"{PG_ADMIN_URL}/dsign_topology_test",
            "TOPOLOGY_REDIS_URL": REDIS_URL.rsplit("/", 1)[0] + "/13",
            "TOPOLOGY_PORTS": f"{free_port()},{free_port()}",
        }
        for name in ("DSIGN_VAR_DIR", "DSIGN_BASE_URL", "DATABASE_URL", "SOFTHSM2_CONF", "Q_SYNC"):
            env.pop(name, None)
        result = subprocess.run(
            ["bash", "scripts/topology.sh", "--check"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
