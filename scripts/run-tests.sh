#!/usr/bin/env bash
# The whole suite on SQLite, then the database-dependent tests again on PostgreSQL (127.0.0.1:5432).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
args=(-q -p no:cacheprovider)
if [ "${1:-}" = "--faults" ]; then
  exec $PY -m pytest "${args[@]}" -m faults tests/faults
fi

$PY -m pytest "${args[@]}" tests
status=$?
[ $status -eq 0 ] || exit $status

PG_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/dsign}
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "== database-dependent tests on PostgreSQL =="
  DATABASE_URL=$PG_URL $PY -m pytest "${args[@]}" -m postgres tests
  status=$?
  [ $status -eq 5 ] && status=0   # no postgres-marked test collected is not a failure
  exit $status
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is not reachable on 127.0.0.1:5432; CI requires it." >&2
  exit 1
else
  echo "SKIPPED: PostgreSQL-backed tests (no server on 127.0.0.1:5432)"
fi
