#!/usr/bin/env bash
# Creates the virtualenv (Python 3.11+) and installs the pinned requirements (pip's progress shown).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
venv=${1:-.venv}
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "dsign needs Python 3.11 or newer as '$python' (set PYTHON=...)" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  step "virtualenv: $venv ($("$python" --version))"
  "$python" -m venv "$venv"
fi
step "Python packages: requirements-dev.txt into $venv (a few minutes the first time)"
"$venv/bin/pip" install --disable-pip-version-check --progress-bar on -r requirements-dev.txt \
  | { grep --line-buffered -vE '^(Requirement already satisfied|  Using cached)' || true; }
"$venv/bin/python" -c 'import django, pyhanko, pkcs11' || { echo "the virtualenv is incomplete" >&2; exit 1; }
# Ubuntu's chromium is a snap stub: the browser tests use Playwright's own Chromium there.
if [ -z "$(bash "$(dirname "$0")/find-chromium.sh")" ]; then
  step "Chromium for the browser tests (Playwright's build; no usable system chromium)"
  "$venv/bin/playwright" install chromium
fi
