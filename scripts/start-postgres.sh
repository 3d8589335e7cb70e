#!/usr/bin/env bash
# Make a PostgreSQL server available for the ledger tests and print its URL on stdout.
# Uses the machine's server on 127.0.0.1:5432 when one answers; otherwise installs
# PostgreSQL from Debian (if needed) and starts a throwaway cluster on port 55432 as the
# `postgres` user (PostgreSQL refuses to run as root). Progress goes to stderr.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if listening 5432; then
    echo "postgres://postgres@127.0.0.1:5432/postgres"
    exit 0
fi
PORT=55432
if listening "$PORT"; then
    echo "postgres://postgres@127.0.0.1:$PORT/postgres"
    exit 0
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "==> installing PostgreSQL (no server is running)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
fi
if listening 5432; then # the package may have started its own cluster
    echo "postgres://postgres@127.0.0.1:5432/postgres"
    exit 0
fi
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
DATA="$(mktemp -d /tmp/frugal-pg.XXXXXX)"
chown postgres "$DATA"
echo "==> starting a throwaway PostgreSQL on 127.0.0.1:$PORT ($DATA)" >&2
runuser -u postgres -- "$PGBIN/initdb" -D "$DATA" -A trust -U postgres >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
    -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c fsync=off" start >&2
echo "postgres://postgres@127.0.0.1:$PORT/postgres"
