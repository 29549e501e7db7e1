#!/usr/bin/env bash
# Restore a Karakana backup into a scratch database and prove it is usable (docs/deploying.md).
#
#   deploy/restore-check.sh BACKUP.dump [POSTGRES_URL]
#
# BACKUP.dump is a `pg_dump --format=custom` file (what deploy/backup.sh writes). POSTGRES_URL is
# a libpq URL of the server to restore on, with a role that may create databases (default
# postgresql://postgres@127.0.0.1:5432/postgres). The script:
#   1. creates an empty database with a unique name (karakana_restore_<date>_<random>);
#   2. pg_restore's the dump into it (--no-owner: the scratch copy belongs to the checking role);
#   3. runs `karakana ledger check` (every account balances, every reversal checks) and
#      `karakana status` against it; `karakana` refuses a database behind the code's migrations,
#      so this also proves the dump matches the release installed here;
#   4. drops the scratch database, whatever happened.
# Exit 0 only if every step passed. Run it after every backup, or at least weekly from cron:
# a backup that was never restored is a hope, not a backup.
set -euo pipefail

dump="${1:?usage: deploy/restore-check.sh BACKUP.dump [POSTGRES_URL]}"
server="${2:-postgresql://postgres@127.0.0.1:5432/postgres}"
karakana="${KARAKANA:-karakana}"
[[ -r "$dump" ]] || { echo "restore-check: cannot read $dump" >&2; exit 2; }

scratch="karakana_restore_$(date -u +%Y%m%d)_$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
base="${server%/*}"                       # postgresql://user@host:port
async_url="postgresql+asyncpg://${base#postgresql://}/${scratch}"

cleanup() {
  psql "$server" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$scratch\" WITH (FORCE)" \
    >/dev/null || echo "restore-check: could not drop $scratch; drop it by hand" >&2
}
trap cleanup EXIT

echo "restore-check: restoring $dump into $scratch"
psql "$server" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$scratch\""
pg_restore --no-owner --no-privileges --exit-on-error --dbname "$base/$scratch" "$dump"

# A clean directory: no .env is read, only the DATABASE_URL given here.
workdir="$(mktemp -d)"
trap 'cleanup; rm -rf "$workdir"' EXIT
cd "$workdir"
echo "restore-check: karakana ledger check"
DATABASE_URL="$async_url" "$karakana" ledger check
echo "restore-check: karakana status"
DATABASE_URL="$async_url" "$karakana" status
echo "restore-check: OK ($dump restores, the ledger balances, status reads it)"
