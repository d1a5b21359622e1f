#!/usr/bin/env bash
# Carnet organizer benchmark: attendance churn on one hot event.
#
# BENCH_ATTENDEES users keep joining an event of BENCH_CAPACITY places by its code and
# cancelling again (benches/organizer.lua flips each attendee at every request), at
# BENCH_CONNECTIONS connections with wrk against the release server. Every join and every
# cancellation locks the event's row (places are handed out one transaction at a time), so
# this measures the throughput of that serialised path and its latency, and checks that the
# capacity was never exceeded (sampled during the load) and that no one waits at the end
# while a place is free. Prints a Markdown table on stdout (for docs/BENCHMARKS.md);
# progress goes to stderr.
#
#   benches/organizer-churn.sh
#
# Knobs (environment): BENCH_DURATION (15 s), BENCH_CONNECTIONS (64), BENCH_THREADS (2),
# BENCH_ATTENDEES (256), BENCH_CAPACITY (32), BENCH_DB (carnet_bench_organizer, dropped
# first), CARNET_BIN (use this binary instead of building the release one in
# ${CARGO_TARGET_DIR:-target}/release).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-15}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
ATTENDEES=${BENCH_ATTENDEES:-256}
CAPACITY=${BENCH_CAPACITY:-32}
BENCH_DB=${BENCH_DB:-carnet_bench_organizer}
LUA="$ROOT/benches/organizer.lua"

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}

# url_with_db URL DB: the same server, another database.
url_with_db() {
    local url=$1 db=$2 scheme rest query="" authority
    scheme=${url%%://*}
    rest=${url#*://}
    case $rest in *\?*) query="?${rest#*\?}"; rest=${rest%%\?*} ;; esac
    authority=${rest%%/*}
    printf '%s://%s/%s%s' "$scheme" "$authority" "$db" "$query"
}

# ---------------------------------------------------------------------------
# Tools

ensure_wrk() {
    command -v wrk >/dev/null 2>&1 && return 0
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null ||
            die "wrk not found; install it (Debian/Ubuntu: apt-get install wrk)"
        sudo=(sudo -n)
    fi
    command -v apt-get >/dev/null 2>&1 || die "wrk not found and no apt-get; install wrk"
    say "wrk not found; installing it with apt-get (Debian package wrk)"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >&2 || {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >&2
    }
}

find_pg_tool() {
    local name=$1 d
    if command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
        return 0
    fi
    for d in $(pg_config --bindir 2>/dev/null) $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/$name" ] && { printf '%s\n' "$d/$name"; return 0; }
    done
    die "$name not found (it ships with the PostgreSQL client/server packages)"
}

# ---------------------------------------------------------------------------
# Set-up

command -v curl >/dev/null 2>&1 || die "curl not found"
ensure_wrk
PSQL=$(find_pg_tool psql)

SERVER_URL=$(bash "$ROOT/deploy/local.sh" db </dev/null)
DB_URL=$(url_with_db "$SERVER_URL" "$BENCH_DB")
ADMIN_URL=$(url_with_db "$SERVER_URL" postgres)
case $SERVER_URL in
    *@127.0.0.1:* | *@localhost:* | *@\[::1\]:*) ;;
    *) die "the benchmark only runs against a loopback PostgreSQL (got $SERVER_URL)" ;;
esac

if [ -n "${CARNET_BIN:-}" ]; then
    BIN=$CARNET_BIN
else
    say "building the release binary (cargo build --release -p carnet)"
    (cd "$ROOT" && cargo build --release -p carnet >&2)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/carnet"
fi
[ -x "$BIN" ] || die "no server binary at $BIN"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/carnet-bench.XXXXXX")
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "fresh database $BENCH_DB on $(url_with_db "$SERVER_URL" '')"
PGOPTIONS="-c client_min_messages=warning" "$PSQL" "$ADMIN_URL" -w -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" </dev/null

PORT=""
for p in $(seq 18080 18180); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then PORT=$p; break; fi
done
[ -n "$PORT" ] || die "no free port in 18080-18180"
BASE="http://127.0.0.1:$PORT"

say "starting $BIN serve on 127.0.0.1:$PORT"
DATABASE_URL=$DB_URL \
    CARNET_LISTEN="127.0.0.1:$PORT" \
    CARNET_PUBLIC_URL="$BASE" \
    CARNET_ENV=development \
    CARNET_LOG=warn \
    CARNET_ACCESS_TOKEN_TTL_SECS=3600 \
    "$BIN" serve >"$WORK/server.log" 2>&1 </dev/null &
SERVER_PID=$!

ready=""
for _ in $(seq 1 600); do # at most 60 s: start-up creates the database and migrates it
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 30 "$WORK/server.log" >&2; die "the server exited during start-up"; }
    if curl -fsS -o /dev/null --max-time 2 "$BASE/readyz" 2>/dev/null; then ready=1; break; fi
    sleep 0.1
done
[ -n "$ready" ] || { tail -n 30 "$WORK/server.log" >&2; die "the server was not ready within 60 s"; }

# register NAME: prints an access token.
register() {
    local answer
    answer=$(curl -fsS --max-time 60 -X POST "$BASE/v1/auth/register" \
        -H 'Content-Type: application/json' \
        -d "{\"email\":\"$1@example.com\",\"password\":\"bench-password-$1\",\"display_name\":\"$1\"}") ||
        die "registration of $1 failed"
    printf '%s\n' "$answer" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p'
}
export -f register say die
export BASE

say "registering the organizer and $ATTENDEES attendees"
ORGANIZER=$(register "organizer-$$")
seq 1 "$ATTENDEES" | xargs -P 4 -I{} bash -c "register attendee-$$-{}" >"$WORK/tokens"
[ "$(grep -c . "$WORK/tokens")" -eq "$ATTENDEES" ] || die "not every attendee got a token"

EVENT=$(curl -fsS --max-time 10 -X POST "$BASE/v1/events" -H "Authorization: Bearer $ORGANIZER" \
    -H 'Content-Type: application/json' \
    -d "{\"kind\":\"conference\",\"title\":\"Churn\",\"starts_at\":\"2026-12-03T18:00:00Z\",\"capacity\":$CAPACITY}") ||
    die "creating the event failed"
EVENT_ID=$(printf '%s' "$EVENT" | sed -n 's/^{"id" *: *"\([^"]*\)".*/\1/p')
CODE=$(printf '%s' "$EVENT" | sed -n 's/.*"join_code" *: *"\([^"]*\)".*/\1/p')
[ -n "$EVENT_ID" ] && [ -n "$CODE" ] || die "no id or join code in $EVENT"

sql() { "$PSQL" "$DB_URL" -w -X -q -A -t -v ON_ERROR_STOP=1 "$@" </dev/null; }
HELD_SQL="SELECT count(*) FROM attendances WHERE event_id = '$EVENT_ID' AND deleted_at IS NULL
          AND role <> 'organizer' AND status IN ('registered', 'checked_in')"

# ---------------------------------------------------------------------------
# Run

kb_of() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || true; }

# The most places held at once, sampled while the load runs.
sample_places() {
    local peak=0 n
    while [ ! -e "$WORK/places.stop" ]; do
        n=$(sql -c "$HELD_SQL" 2>/dev/null || echo 0)
        [ "$n" -gt "$peak" ] && peak=$n
        sleep 0.1
    done
    printf '%s\n' "$peak" >"$WORK/places"
}

say "wrk: join/cancel churn on one event (-t$THREADS -c$CONNS -d${DURATION}s, $ATTENDEES attendees, $CAPACITY places)"
sample_places &
SAMPLER=$!
CARNET_BENCH_TOKENS="$WORK/tokens" CARNET_BENCH_EVENT=$EVENT_ID CARNET_BENCH_CODE=$CODE \
    CARNET_BENCH_THREADS=$THREADS \
    timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency \
    -s "$LUA" "$BASE" >"$WORK/wrk" 2>&1 || { cat "$WORK/wrk" >&2; die "wrk failed"; }
touch "$WORK/places.stop"
wait "$SAMPLER"
line=$(grep '^CARNET_BENCH ' "$WORK/wrk") || { cat "$WORK/wrk" >&2; die "no summary from wrk"; }
eval "$(printf '%s' "${line#CARNET_BENCH }" | tr ' ' '\n' | sed "s/^/W_/")"
P50=$(awk -v u="$W_p50_us" 'BEGIN { printf "%.2f", u / 1000 }')
P99=$(awk -v u="$W_p99_us" 'BEGIN { printf "%.2f", u / 1000 }')
BAD=$((W_non2xx + W_socket_errors))
say "  $W_requests requests, $W_rps req/s, non-2xx $W_non2xx, socket errors $W_socket_errors"

# Afterwards: places held, and people waiting while a place is free.
HELD=$(sql -c "$HELD_SQL")
WAITING=$(sql -c "SELECT count(*) FROM attendances WHERE event_id = '$EVENT_ID' AND deleted_at IS NULL
                  AND status = 'waitlisted'")
PEAK=$(cat "$WORK/places")
[ "$PEAK" -le "$CAPACITY" ] && [ "$HELD" -le "$CAPACITY" ] ||
    die "capacity exceeded: peak $PEAK, now $HELD, capacity $CAPACITY"
if [ "$HELD" -lt "$CAPACITY" ] && [ "$WAITING" -gt 0 ]; then
    die "$WAITING people wait while only $HELD of $CAPACITY places are held"
fi
HWM=$(awk -v k="$(kb_of VmHWM)" 'BEGIN { printf "%.1f", k / 1024 }')
kill -0 "$SERVER_PID" 2>/dev/null || die "the server died during the run"

PG_VERSION=$(sql -c "SHOW server_version" | cut -d' ' -f1)
if [ -n "${CARNET_BIN:-}" ]; then
    REV="binary $CARNET_BIN"
else
    REV="commit $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
fi
LOAD=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')

cat <<END
Run: $(date -u +%Y-%m-%dT%H:%MZ), $REV, $(nproc) CPU(s) (load average $LOAD at the end), PostgreSQL $PG_VERSION, server pool ${CARNET_DB_POOL_SIZE:-16}, $CONNS connections, ${DURATION}s, $THREADS wrk threads, wrk on the same machine.

| Workload | req/s | p50 ms | p99 ms | non-2xx/errors | places held: peak sampled (capacity) | waiting at the end | Server VmHWM MB |
|---|---:|---:|---:|---:|---:|---:|---:|
| join / cancel churn, $ATTENDEES attendees, one event | $W_rps | $P50 | $P99 | $BAD | $PEAK ($CAPACITY) | $WAITING | $HWM |
END
