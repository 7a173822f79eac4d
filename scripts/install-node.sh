#!/usr/bin/env bash
# Node.js 22 or newer for the front-end libraries (pdf.js) and the test OpenID provider. A system Node.js
# that is new enough is used as it is; otherwise (Debian 12 ships 18) the `node` and `npm` packages of npm's
# registry are installed under .tools/node with the system's npm, and every script puts them first on PATH.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if [ "$(node_major)" -ge "$NODE_MAJOR_MIN" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is missing (scripts/install-system-packages.sh installs it)" >&2
  exit 1
fi
step "Node.js $NODE_MAJOR_MIN into .tools/node (the system has $(node --version 2>/dev/null || echo none))"
mkdir -p "$NODE_PREFIX"
npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --loglevel=error "node@$NODE_MAJOR_MIN" "npm@10"
PATH="$NODE_PREFIX/node_modules/.bin:$PATH"
echo "    node $(node --version), npm $(npm --version)"
