#!/usr/bin/env sh
# Creates the secrets a deployment needs in DIR, only those that are missing, and says where they are:
# secret_key, hsm_pin, hsm_so_pin, db_password, redis_password. Run by compose's `secrets` service on every
# start (a no-op once they exist); keep a copy in the organisation's password safe (backups exclude them).
set -eu
dir=${1:-/run/secrets}
mkdir -p "$dir"
made=""
for name in secret_key hsm_pin hsm_so_pin db_password redis_password; do
  [ -s "$dir/$name" ] && continue
  case $name in
    secret_key) length=50 ;;
    *) length=24 ;;
  esac
  umask 022
  python3 -c "import secrets, sys; sys.stdout.write(secrets.token_urlsafe($length))" > "$dir/$name.tmp"
  chmod 0444 "$dir/$name.tmp"   # read by the dsign (10001), postgres and redis (999) accounts of their images
  mv "$dir/$name.tmp" "$dir/$name"
  made="$made $name"
done
if [ -n "$made" ]; then
  echo "secrets generated in $dir:$made"
  echo "  read them with: docker compose run --rm --no-deps web cat $dir/<name>   (store them in a password safe)"
else
  echo "secrets present in $dir"
fi
