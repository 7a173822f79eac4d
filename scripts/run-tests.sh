#!/usr/bin/env bash
# The whole suite: on SQLite, then the database-dependent tests again on PostgreSQL, then the fault tests
# (real gunicorn/qcluster processes on PostgreSQL and Redis). PostgreSQL and Redis are the configured ones
# (TEST_POSTGRES_URL, TEST_REDIS_URL) when they answer, otherwise throwaway ones started here and stopped at
# the end (tests/support/services.py). PYTEST_ADDOPTS narrows every phase (e.g. PYTEST_ADDOPTS="-k health").
#   scripts/run-tests.sh            all three phases
#   scripts/run-tests.sh --faults   only the fault tests
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh   # the project's Node.js first on PATH (the OIDC tests run a Node provider)
PY=.venv/bin/python
args=(-q -p no:cacheprovider)
phase() { echo; step "$*"; }
ok() { [ "$1" -eq 0 ] || [ "$1" -eq 5 ]; }   # 5: nothing collected (a narrowed run), not a failure

services_down() { [ -n "${DSIGN_TEST_SERVICES_DIR:-}" ] && $PY -m tests.support.services down; }
services_up() {
  local exports
  exports=$($PY -m tests.support.services up) || exit 1
  eval "$exports"
  trap services_down EXIT
  trap 'exit 130' INT TERM
}

faults() {
  phase "fault tests (real processes on PostgreSQL and Redis)"
  $PY -m pytest "${args[@]}" -m faults tests/faults
}

if [ "${1:-}" = "--faults" ]; then
  services_up
  faults
  exit $?
fi

services_up   # before the SQLite phase too: the compose start-up test runs on PostgreSQL and Redis
phase "the suite on SQLite"
$PY -m pytest "${args[@]}" tests
status=$?
ok $status || exit $status

phase "database-dependent tests on PostgreSQL"
DATABASE_URL=$TEST_POSTGRES_URL $PY -m pytest "${args[@]}" -m postgres tests
status=$?
ok $status || exit $status

faults
status=$?
ok $status || exit $status
exit 0
