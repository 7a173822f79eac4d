#!/usr/bin/env bash
# The whole suite: on SQLite, then the database-dependent tests again on PostgreSQL, then the fault tests
# (real gunicorn/qcluster processes on PostgreSQL and Redis). PostgreSQL and Redis are the configured ones
# (TEST_POSTGRES_URL, TEST_REDIS_URL) when they answer, otherwise throwaway ones started here and stopped at
# the end (tests/support/services.py). PYTEST_ADDOPTS narrows every phase (e.g. PYTEST_ADDOPTS="-k health").
# The SQLite phase runs on TEST_WORKERS pytest-xdist workers (default 2; 0 runs it in this one process), the
# fault phase on FAULT_WORKERS (default 0: one stack at a time); each worker has its own state directory, SoftHSM token, CA, test database and live-server port
# (tests/pytest_bootstrap.py).
# Each phase ends with its slowest tests (--durations).
#   scripts/run-tests.sh            all three phases
#   scripts/run-tests.sh --faults   only the fault tests
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh   # the project's Node.js first on PATH (the OIDC tests run a Node provider)
PY=.venv/bin/python
args=(-q -p no:cacheprovider --durations=15)
workers=${TEST_WORKERS:-2}
fault_workers=${FAULT_WORKERS:-0}
# SQLite phase: --dist load, not loadfile. pytest-django orders the database tests before the transactional
# ones (which flush the seeded CA and personas); load hands each worker its tests in that order, loadfile
# would run one file's transactional tests before the next file's database tests (seen: 210 failures).
# The fault tests that share one running stack carry xdist_group("fault_stack").
xdist() { [ "$2" -gt 0 ] && echo "-n $2 --dist $1"; }
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
  $PY -m pytest "${args[@]}" $(xdist loadgroup "$fault_workers") -m faults tests/faults
}

if [ "${1:-}" = "--faults" ]; then
  services_up
  faults
  exit $?
fi

services_up   # before the SQLite phase too: the compose start-up test runs on PostgreSQL and Redis
phase "the suite on SQLite"
$PY -m pytest "${args[@]}" $(xdist load "$workers") tests
status=$?
ok $status || exit $status

phase "database-dependent tests on PostgreSQL"
DATABASE_URL=$TEST_POSTGRES_URL $PY -m pytest "${args[@]}" -m postgres tests  # 18 tests: a second worker costs more than it saves
status=$?
ok $status || exit $status

faults
status=$?
ok $status || exit $status
exit 0
