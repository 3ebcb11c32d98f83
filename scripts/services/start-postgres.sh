#!/usr/bin/env bash
# Wharf test services: start (idempotently, in the background) a throw-away PostgreSQL cluster in DATA_DIR,
# listening on 127.0.0.1:PORT only, trust auth, and create database $PG_DB.
#
#   usage: start-postgres.sh DATA_DIR PORT
#   env:   PG_DB (registry)  PG_DURABLE=1 (keep fsync/synchronous_commit on)
#   stop:  stop-postgres.sh DATA_DIR   (pg_ctl stop -m fast)
# Prints DATABASE_URL=postgres://postgres@127.0.0.1:PORT/$PG_DB (also in DATA_DIR/pg.env)
#
# Needs the Debian postgresql package (PostgreSQL 15 on bookworm; preinstalled on
# this image; otherwise: apt-get install -y --no-install-recommends postgresql).
# The server refuses to run as root, so as root it runs as the 'postgres' user;
# every directory above DATA_DIR must be searchable (o+x) by that user.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 DATA_DIR PORT" >&2; exit 2; }
DATA=$(realpath -m "$1"); PORT=$2; DB=${PG_DB:-registry}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$BIN/initdb" ] || { echo "PostgreSQL server binaries not found: apt-get install -y postgresql" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then as_pg() { runuser -u postgres -- "$@"; }; OWNER=postgres; else as_pg() { "$@"; }; OWNER=$(id -un); fi

if [ ! -s "$DATA/PG_VERSION" ]; then
  mkdir -p "$DATA"; chown "$OWNER" "$DATA"; chmod 700 "$DATA"
  log=$(mktemp)
  as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$log" 2>&1 \
    || { cat "$log" >&2; rm -f "$log"; exit 1; }
  mv "$log" "$DATA/initdb.log"
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PORT"
    echo "unix_socket_directories = '$DATA'"
    echo "max_connections = 200"
    echo "shared_buffers = 128MB"
    if [ -z "${PG_DURABLE:-}" ]; then   # test data: trade durability for speed
      echo "fsync = off"; echo "synchronous_commit = off"; echo "full_page_writes = off"
    fi
  } >>"$DATA/postgresql.conf"
fi

if ! as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 -o "-p $PORT" start >/dev/null \
    || { tail -n 20 "$DATA/server.log" >&2; exit 1; }
fi
PSQL=("$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres)
if [ "$(as_pg "${PSQL[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
  as_pg "${PSQL[@]}" -d postgres -c "CREATE DATABASE \"$DB\""
fi
echo "DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/$DB" | tee "$DATA/pg.env"
