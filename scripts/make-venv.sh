#!/usr/bin/env bash
# Creates the virtualenv (Python 3.11+) and installs the pinned requirements.
set -euo pipefail
venv=${1:-.venv}
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "dsign needs Python 3.11 or newer as '$python' (set PYTHON=...)" >&2
  exit 1
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt
