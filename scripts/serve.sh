#!/usr/bin/env bash
# Serves the web app and a django-q2 cluster together in the foreground; Ctrl-C stops both.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
BIND=${DSIGN_BIND:-127.0.0.1:8000}
URL=${DSIGN_BASE_URL:-http://$BIND}
$PY manage.py qcluster &
qcluster=$!
stop() { kill "$qcluster" 2>/dev/null; wait "$qcluster" 2>/dev/null; }
trap stop EXIT
trap 'exit 130' INT TERM
cat <<BANNER

  dsign is serving on $URL (listening on $BIND; Ctrl-C stops web and workers)
  Django admin:  $URL/admin/      API docs: $URL/api/docs/      health: $URL/readyz
  Demo logins (password demo-pass-2026): admin, requester, head1, head2, head3, director, auditor
  An API token:  .venv/bin/python manage.py drf_create_token head1
  An MFA code:   .venv/bin/python manage.py addstatictoken head1 -t 123456

BANNER
.venv/bin/gunicorn -c python:dsign.gunicorn_conf dsign.wsgi:application --bind "$BIND" --workers "${WEB_WORKERS:-2}" \
  --threads 4 --timeout 120 &
web=$!
wait "$web"
