#!/usr/bin/env bash
# A nightly logical backup of Karakana's database (docs/deploying.md), then a restore check.
#
#   deploy/backup.sh POSTGRES_URL BACKUP_DIR [KEEP_DAYS]
#
# Writes BACKUP_DIR/karakana-<UTC time>.dump (pg_dump custom format, compressed), restores it
# into a scratch database with deploy/restore-check.sh, and only then deletes dumps older than
# KEEP_DAYS (default 14). Copy BACKUP_DIR off the machine (for example with `aws s3 sync` to a
# bucket other than the media one). For point-in-time recovery use WAL archiving as well
# (pgBackRest; see docs/deploying.md).
set -euo pipefail

url="${1:?usage: deploy/backup.sh POSTGRES_URL BACKUP_DIR [KEEP_DAYS]}"
dir="${2:?usage: deploy/backup.sh POSTGRES_URL BACKUP_DIR [KEEP_DAYS]}"
keep="${3:-14}"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$dir"
target="$dir/karakana-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --compress=6 --file "$target.partial" "$url"
mv "$target.partial" "$target"
echo "backup: wrote $target ($(du -h "$target" | cut -f1))"
"$here/restore-check.sh" "$target" "${url%/*}/postgres"
find "$dir" -name 'karakana-*.dump' -mtime "+$keep" -print -delete
