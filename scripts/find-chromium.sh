#!/usr/bin/env bash
# Prints the path of a real (non-snap) Chromium, or nothing: $CHROMIUM, then the usual names on PATH.
for candidate in "${CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser "$(command -v chromium 2>/dev/null)" \
                 "$(command -v chromium-browser 2>/dev/null)" "$(command -v google-chrome 2>/dev/null)"; do
  [ -n "$candidate" ] && [ -x "$candidate" ] || continue
  real=$(readlink -f "$candidate")
  case "$real" in /snap/*|/usr/bin/snap) continue ;; esac
  # Ubuntu's transitional package is a shell script that runs the snap.
  if head -c 2 "$real" | grep -q '#!' && grep -q snap "$real"; then continue; fi
  echo "$candidate"
  exit 0
done
