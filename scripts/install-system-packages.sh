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
