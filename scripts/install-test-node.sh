#!/usr/bin/env bash
# Node packages the tests need (the OpenID Connect provider of tests/support/oidc_provider). Idempotent:
# reinstalls only when package-lock.json changed since the last install.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../tests/support/oidc_provider"
stamp=node_modules/.installed-$(sha256sum package-lock.json | cut -c1-12)
if [ -f "$stamp" ]; then
  exit 0
fi
step "test OpenID provider: oidc-provider from npm"
npm ci --no-audit --no-fund --loglevel=error
touch "$stamp"
