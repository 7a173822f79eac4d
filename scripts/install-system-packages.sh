#!/usr/bin/env bash
# Installs the Debian packages dsign needs, only those that are missing. Run as root (make demo / make test do).
set -euo pipefail
PACKAGES=(
  libldap2-dev libsasl2-dev          # python-ldap (django-auth-ldap) builds against these
  slapd ldap-utils                   # OpenLDAP server started by the LDAP tests
  softhsm2 opensc                    # the default PKCS#11 token and pkcs11-tool
  poppler-utils libnss3-tools        # pdfsig (independent verifier), certutil for its NSS database
  fonts-thai-tlwg fonts-tlwg-laksaman-ttf libharfbuzz-subset0  # Thai fonts, font subsetting for pyHanko/WeasyPrint
  libpango-1.0-0 libpangoft2-1.0-0   # WeasyPrint
  chromium chromium-driver           # browser tests
)
# On a bare Debian/Ubuntu: a Python with venv and headers, a compiler (python-ldap builds from source),
# and Node.js/npm for the front-end assets. Machines that already have them (pyenv, nvm) are left alone.
python3 -c 'import venv, ensurepip' 2>/dev/null || PACKAGES+=(python3 python3-venv python3-dev)
command -v gcc >/dev/null 2>&1 || PACKAGES+=(build-essential python3-dev)
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)
command -v pg_isready >/dev/null 2>&1 || PACKAGES+=(postgresql-client)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root or install them)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
