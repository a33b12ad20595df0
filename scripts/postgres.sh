#!/usr/bin/env bash
# Makes sure PostgreSQL answers on 127.0.0.1:5432 for the store's PostgreSQL tests
# (crates/store/tests/postgres*.rs). Quiet when it answers; otherwise starts the local server
# (`service postgresql start`, else `pg_ctlcluster` on each installed cluster) and waits for it.
# Fails loudly (exit 1) when it cannot: those tests need a real PostgreSQL, they never skip.
set -euo pipefail
host="${PGHOST_CHECK:-127.0.0.1}"
port="${PGPORT_CHECK:-5432}"

answers() { pg_isready -q -h "$host" -p "$port" >/dev/null 2>&1; }

if ! command -v pg_isready >/dev/null 2>&1; then
  echo "postgres.sh: pg_isready not found (install postgresql-client)" >&2
  exit 1
fi
answers && exit 0

if command -v service >/dev/null 2>&1; then
  service postgresql start >/dev/null 2>&1 || true
fi
if ! answers && command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters --no-header 2>/dev/null | while read -r version cluster _; do
    pg_ctlcluster "$version" "$cluster" start >/dev/null 2>&1 || true
  done
fi
for _ in $(seq 1 30); do
  answers && exit 0
  sleep 1
done
echo "postgres.sh: PostgreSQL does not answer on $host:$port (tried service postgresql start and pg_ctlcluster)" >&2
exit 1
