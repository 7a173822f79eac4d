#!/usr/bin/env bash
# The start-up sequence of an installation, idempotent: the token (SoftHSM), migrations, role permissions, the
# internal CA and the schedules. `make setup` and compose's `migrate` service both run it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
PY=${PYTHON_BIN:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
step "SoftHSM token"
$PY manage.py hsm_init
step "database migrations and roles"
$PY manage.py migrate --noinput -v0
$PY manage.py roles_sync -v0
step "internal CA (root, issuing, OCSP, TSA) in the token"
$PY manage.py ca_init
step "schedules"
$PY manage.py register_schedules
