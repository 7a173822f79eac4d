#!/usr/bin/env bash
# Serves the signer, a django-q2 cluster and the web app together in the foreground; Ctrl-C stops all.
# Keys apart (issue 16): only the signer process is given the users' token PIN; the workers and the web
# tier reach it over its Unix socket (var/signer.sock) and hold no users' PIN in their environment.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
BIND=${DSIGN_BIND:-127.0.0.1:8000}
URL=${DSIGN_BASE_URL:-http://$BIND}
VAR=${DSIGN_VAR_DIR:-var}
USERS_PIN_FILE=${HSM_USERS_PIN_FILE:-$VAR/secrets/hsm-users.pin}
# Served to others (DSIGN_BIND may be the LAN): no debug pages, and no per-query bookkeeping in memory.
export DEBUG=${DEBUG:-false}
HSM_USERS_PIN_FILE=$USERS_PIN_FILE $PY manage.py signer &
signer=$!
for _ in $(seq 100); do [ -S "${SIGNER_SOCKET:-$VAR/signer.sock}" ] && break; sleep 0.2; done
env -u HSM_USERS_PIN -u HSM_USERS_PIN_FILE $PY manage.py qcluster &
qcluster=$!
web=
# A kill of this script alone (not Ctrl-C's whole process group) must not leave gunicorn serving.
stop() { kill $web "$qcluster" "$signer" 2>/dev/null; wait $web "$qcluster" "$signer" 2>/dev/null; }
trap stop EXIT
trap 'exit 130' INT TERM
cat <<BANNER

  dsign is serving on $URL (listening on $BIND; Ctrl-C stops web, workers and signer)
  Django admin:  $URL/admin/      API docs: $URL/api/docs/      health: $URL/readyz
  Demo logins (password demo-pass-2026): admin, requester, head1, head2, head3, director, auditor
  An API token:  .venv/bin/python manage.py drf_create_token head1
  An MFA code:   .venv/bin/python manage.py addstatictoken head1 -t 123456
  Tokens apart:  SOFTHSM2_CONF=$VAR/softhsm2.conf softhsm2-util --show-slots

BANNER
env -u HSM_USERS_PIN -u HSM_USERS_PIN_FILE .venv/bin/gunicorn -c python:dsign.gunicorn_conf dsign.wsgi:application \
  --bind "$BIND" --workers "${WEB_WORKERS:-2}" --threads 4 --timeout 120 &
web=$!
wait "$web"
