#!/usr/bin/env bash
# Serves the web app and a django-q2 cluster together in the foreground; Ctrl-C stops both.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
BIND=${DSIGN_BIND:-127.0.0.1:8000}
USERS_PIN_FILE=${HSM_USERS_PIN_FILE:-var/secrets/hsm-users.pin}
# Keys apart: only the workers are given the users' token PIN; the web tier never is.
(unset HSM_USERS_PIN; HSM_USERS_PIN_FILE=$USERS_PIN_FILE exec $PY manage.py qcluster) &
qcluster=$!
stop() { kill "$qcluster" 2>/dev/null; wait "$qcluster" 2>/dev/null; }
trap stop EXIT
trap 'exit 130' INT TERM
cat <<BANNER

  dsign is serving on http://$BIND  (Ctrl-C stops web and workers)
  Django admin:  http://$BIND/admin/      API docs: http://$BIND/api/docs/
  Demo logins (password demo-pass-2026): admin, requester, head1, head2, head3, director, auditor
  An API token:  .venv/bin/python manage.py drf_create_token head1
  An MFA code:   .venv/bin/python manage.py addstatictoken head1 -t 123456

BANNER
env -u HSM_USERS_PIN -u HSM_USERS_PIN_FILE .venv/bin/gunicorn dsign.wsgi:application --bind "$BIND" --workers "${WEB_WORKERS:-2}" --threads 4 \
  --timeout 120 --access-logfile - &
web=$!
wait "$web"
