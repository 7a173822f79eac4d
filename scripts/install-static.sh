#!/usr/bin/env bash
# Installs the pinned front-end libraries (package-lock.json) and copies the files the pages serve into
# static/vendor/, so nothing is loaded from a CDN at run time. Idempotent: does nothing when the copied files
# already match the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
vendor=static/vendor
stamp="$vendor/.installed-from"
lock_hash="$( (cat package.json; [ -f package-lock.json ] && cat package-lock.json) | sha256sum | cut -d' ' -f1)"

# The Thai font (Sarabun) is vendored in static/fonts/sarabun with its licence and digests.

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ] \
   && [ -f "$vendor/pdfjs/build/pdf.min.mjs" ] && [ -f "$vendor/htmx/htmx.min.js" ]; then
  exit 0
fi

step "front-end libraries: pdf.js and htmx from npm (package-lock.json)"
# Optional dependencies (pdfjs-dist's native canvas for Node) are not needed to serve the browser build.
# `npm ci` refuses this lock file because some of @napi-rs/canvas's per-platform optional packages are not
# published (npm/cli#4828 family); `npm install --no-save` then installs the same locked versions.
if [ -f package-lock.json ]; then
  log=$(mktemp)
  if ! npm ci --no-audit --no-fund --omit=optional --loglevel=error 2>"$log"; then
    grep -q "Missing: @napi-rs/canvas" "$log" || { cat "$log" >&2; rm -f "$log"; exit 1; }
    npm install --no-save --no-audit --no-fund --omit=optional --loglevel=error
  fi
  rm -f "$log"
else
  npm install --no-audit --no-fund --omit=optional --loglevel=error
fi

pdfjs=node_modules/pdfjs-dist
htmx=node_modules/htmx.org
rm -rf "$vendor/pdfjs" "$vendor/htmx"
mkdir -p "$vendor/pdfjs/build" "$vendor/htmx"
cp "$pdfjs/build/pdf.min.mjs" "$pdfjs/build/pdf.worker.min.mjs" "$vendor/pdfjs/build/"
cp -R "$pdfjs/cmaps" "$pdfjs/standard_fonts" "$vendor/pdfjs/"
cp "$pdfjs/LICENSE" "$vendor/pdfjs/LICENSE"
cp "$htmx/dist/htmx.min.js" "$vendor/htmx/htmx.min.js"
cp "$htmx/LICENSE" "$vendor/htmx/LICENSE"
echo "$lock_hash" > "$stamp"
echo "static/vendor: pdfjs-dist $(node -p "require('./$pdfjs/package.json').version"), htmx.org $(node -p "require('./$htmx/package.json').version")"
