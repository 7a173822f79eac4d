#!/usr/bin/env sh
# Creates the secrets a deployment needs, only those that are missing, and says where they are: in DIR
# secret_key, the CA, services and SO PINs of the HSM, db_password, redis_password; in SIGNER_DIR (default
# DIR) the users' token PIN, which only the signer (and the set-up) may read (keys apart, issue 16). Run by compose's `secrets` service on every
# start (a no-op once they exist); keep a copy in the organisation's password safe (backups exclude them).
set -eu
dir=${1:-/run/secrets}
signer_dir=${2:-$dir}
mkdir -p "$dir" "$signer_dir"
made=""
for name in secret_key hsm_ca_pin hsm_services_pin hsm_so_pin db_password redis_password hsm_users_pin; do
  target=$dir
  [ "$name" = hsm_users_pin ] && target=$signer_dir
  [ -s "$target/$name" ] && continue
  case $name in
    secret_key) length=50 ;;
    *) length=24 ;;
  esac
  umask 022
  python3 -c "import secrets, sys; sys.stdout.write(secrets.token_urlsafe($length))" > "$target/$name.tmp"
  chmod 0444 "$target/$name.tmp"   # read by the dsign (10001), postgres and redis (999) accounts of their images
  mv "$target/$name.tmp" "$target/$name"
  made="$made $name"
done
if [ -n "$made" ]; then
  echo "secrets generated in $dir:$made"
  echo "  read them with: docker compose run --rm --no-deps web cat $dir/<name>   (store them in a password safe)"
else
  echo "secrets present in $dir"
fi
