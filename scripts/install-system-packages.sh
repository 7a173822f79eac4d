#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages dsign needs, only those that are missing. Run as root (make demo / make
# test do). Works on a bare system (debootstrap minbase): Python with venv and headers, a compiler, Node.js
# and npm, PostgreSQL and Redis servers for the test suite's throwaway instances, Chromium (not the snap).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. /etc/os-release 2>/dev/null || true
PACKAGES=(
  ca-certificates curl              # npm and pip over HTTPS
  libldap2-dev libsasl2-dev          # python-ldap (django-auth-ldap) builds against these
  slapd ldap-utils                   # OpenLDAP server started by the LDAP tests
  softhsm2 opensc                    # the default PKCS#11 token and pkcs11-tool
  poppler-utils libnss3-tools        # pdfsig (independent verifier), certutil for its NSS database
  qpdf                               # the tests open password-encrypted copies with an independent tool
  fonts-thai-tlwg fonts-tlwg-laksaman-ttf libharfbuzz-subset0  # Thai fonts, font subsetting for pyHanko/WeasyPrint
  libpango-1.0-0 libpangoft2-1.0-0   # WeasyPrint
  postgresql-client                  # pg_dump/pg_restore (manage.py backup/restore), pg_isready
  openssl                            # the tests check timestamp tokens with `openssl ts`
)
# Ubuntu's `chromium` package is a stub that installs the snap; there the browser tests use Playwright's
# Chromium (scripts/make-venv.sh installs it). Debian's chromium is a real package.
if [ "${ID:-}" = "ubuntu" ]; then
  PACKAGES+=(libnss3 libatk-bridge2.0-0 libgbm1 libxkbcommon0 libasound2t64)
else
  PACKAGES+=(chromium chromium-driver)
fi
# A Python with venv, and its headers whenever they are missing (python-ldap is compiled); a compiler.
python3 -c 'import venv, ensurepip' 2>/dev/null || PACKAGES+=(python3 python3-venv)
python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  2>/dev/null || PACKAGES+=(python3-dev)
command -v gcc >/dev/null 2>&1 || PACKAGES+=(build-essential)
command -v make >/dev/null 2>&1 || PACKAGES+=(make)
# npm (to fetch Node.js 22 and the front-end libraries) unless a Node.js toolchain is there already.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)
# The servers behind the test suite's throwaway PostgreSQL cluster and Redis (tests/support/services.py).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || PACKAGES+=(postgresql)
command -v redis-server >/dev/null 2>&1 || PACKAGES+=(redis-server)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${missing[*]} (run as root or install them)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
step "system packages: apt-get update"
apt-get update -qq
step "system packages: installing ${#missing[@]}: ${missing[*]}"
apt-get install -y -q --no-install-recommends -o Dpkg::Progress-Fancy=0 "${missing[@]}" \
  | { grep --line-buffered -E '^Setting up ' | sed -u 's/^/    /' || true; }
