#!/usr/bin/env bash
# The production topology on this machine: PostgreSQL (127.0.0.1:5432, database dsign_topology) and Redis
# (127.0.0.1:6379/1), two gunicorn web processes (8001, 8002), two qcluster processes, and a SoftHSM token
# under var/topology/ standing in for the network HSM. Foreground; Ctrl-C stops everything.
#   scripts/topology.sh           serve
#   scripts/topology.sh --check   start, run the DESIGN.md API flow, verify the signed PDF, stop (exit 0 = ok)
# Override with TOPOLOGY_DATABASE_URL, TOPOLOGY_REDIS_URL, TOPOLOGY_PORTS=8001,8002, TOPOLOGY_VAR_DIR, Q_WORKERS.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench.topology "$@"
