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

. "$ROOT/benches/lib.sh"

# ---------------------------------------------------------------------------
# Set-up

need curl
ensure_wrk
PSQL=$(find_pg_tool psql)

bench_urls
require_loopback_pg
choose_bin
make_work
fresh_database "on $(url_with_db "$SERVER_URL" '')"
free_port 18080
start_server CARNET_PUBLIC_URL="$BASE" CARNET_ENV=development CARNET_ACCESS_TOKEN_TTL_SECS=3600

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

HELD_SQL="SELECT count(*) FROM attendances WHERE event_id = '$EVENT_ID' AND deleted_at IS NULL
          AND role <> 'organizer' AND status IN ('registered', 'checked_in')"

# ---------------------------------------------------------------------------
# Run

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

run_facts

cat <<END
Run: $(date -u +%Y-%m-%dT%H:%MZ), $REV, $(nproc) CPU(s) (load average $LOAD at the end), PostgreSQL $PG_VERSION, server pool ${CARNET_DB_POOL_SIZE:-16}, $CONNS connections, ${DURATION}s, $THREADS wrk threads, wrk on the same machine.

| Workload | req/s | p50 ms | p99 ms | non-2xx/errors | places held: peak sampled (capacity) | waiting at the end | Server VmHWM MB |
|---|---:|---:|---:|---:|---:|---:|---:|
| join / cancel churn, $ATTENDEES attendees, one event | $W_rps | $P50 | $P99 | $BAD | $PEAK ($CAPACITY) | $WAITING | $HWM |
END
