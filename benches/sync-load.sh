#!/usr/bin/env bash
# Carnet sync benchmark.
#
# Starts the release server on a loopback port with a fresh database and runs
# benches/sync_load.py against it: push throughput (field mutations/s, batches of 100
# contacts x 10 fields), initial sync of BENCH_CONTACTS contacts (time, gzip bytes),
# pull throughput, pull p50/p99 with BENCH_FEED_ROWS rows in the change feed, and in the
# same run the COPY baselines of the same rows. Prints a Markdown table on stdout (for
# docs/BENCHMARKS.md); progress goes to stderr.
#
#   benches/sync-load.sh
#
# Knobs (environment): BENCH_CONTACTS (100000), BENCH_PUSHERS (4 devices pushing at once),
# BENCH_PULLS (200), BENCH_FEED_ROWS (1000000), BENCH_DB (carnet_sync_bench, dropped first),
# CARNET_BIN (use this binary instead of building the release one; the build honours
# CARGO_TARGET_DIR).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DB=${BENCH_DB:-carnet_sync_bench}

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}

url_with_db() {
    local url=$1 db=$2 scheme rest query="" authority
    scheme=${url%%://*}
    rest=${url#*://}
    case $rest in *\?*) query="?${rest#*\?}"; rest=${rest%%\?*} ;; esac
    authority=${rest%%/*}
    printf '%s://%s/%s%s' "$scheme" "$authority" "$db" "$query"
}

command -v python3 >/dev/null 2>&1 || die "python3 not found"
command -v curl >/dev/null 2>&1 || die "curl not found"
PSQL=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -1)
[ -x "$PSQL" ] || die "psql not found"

SERVER_URL=$(bash "$ROOT/deploy/local.sh" db </dev/null)
DB_URL=$(url_with_db "$SERVER_URL" "$BENCH_DB")
ADMIN_URL=$(url_with_db "$SERVER_URL" postgres)

if [ -n "${CARNET_BIN:-}" ]; then
    BIN=$CARNET_BIN
else
    say "building the release binary (cargo build --release -p carnet)"
    (cd "$ROOT" && cargo build --release -p carnet >&2)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/carnet"
fi
[ -x "$BIN" ] || die "no server binary at $BIN"

SERVER_PID=""
LOG=$(mktemp "${TMPDIR:-/tmp}/carnet-sync-bench.XXXXXX")
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    rm -f "$LOG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "fresh database $BENCH_DB"
"$PSQL" "$ADMIN_URL" -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" </dev/null

PORT=""
for p in $(seq 18280 18380); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then PORT=$p; break; fi
done
[ -n "$PORT" ] || die "no free loopback port"

say "starting $BIN on 127.0.0.1:$PORT"
DATABASE_URL=$DB_URL CARNET_LISTEN=127.0.0.1:$PORT CARNET_LOG=warn \
    CARNET_JWT_SECRET=bench-secret-bench-secret-bench-secret-0000 \
    "$BIN" serve >"$LOG" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$LOG" >&2; die "server exited"; }
    sleep 0.1
done

say "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
CARNET_BENCH_URL="http://127.0.0.1:$PORT" CARNET_BENCH_DB_URL=$DB_URL PSQL=$PSQL \
    python3 "$ROOT/benches/sync_load.py"
