#!/usr/bin/env bash
# Carnet calendar feed benchmark.
#
# Times GET /calendar/{token}.ics for a user with BENCH_EVENTS events (one every 26 hours
# from 2025-01-01, about three years for 1000, in eight time zones, so the feed carries eight
# VTIMEZONEs with their DST changes) and BENCH_REMINDERS open reminders, against the release server: full fetches (query, render,
# digest) and revalidations (If-None-Match, answered 304), one request at a time with curl,
# plus the server's resident memory. Prints a Markdown table on stdout (for
# docs/BENCHMARKS.md); progress goes to stderr.
#
#   benches/calendar-feed.sh
#
# Knobs (environment): BENCH_EVENTS (1000), BENCH_REMINDERS (1000), BENCH_FETCHES (100 of
# each kind), BENCH_DB (carnet_bench_calendar, dropped first), CARNET_BIN (use this binary
# instead of building the release one in ${CARGO_TARGET_DIR:-target}/release).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EVENTS=${BENCH_EVENTS:-1000}
REMINDERS=${BENCH_REMINDERS:-1000}
FETCHES=${BENCH_FETCHES:-100}
BENCH_DB=${BENCH_DB:-carnet_bench_calendar}

. "$ROOT/benches/lib.sh"

need curl
PSQL=$(find_pg_tool psql)

bench_urls
require_loopback_pg
choose_bin
make_work
fresh_database
free_port 18200
start_server CARNET_PUBLIC_URL="$BASE" CARNET_ENV=development

EMAIL="bench-$(date +%s)@example.com"
REGISTER=$(curl -fsS --max-time 30 -X POST "$BASE/v1/auth/register" \
    -H 'Content-Type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"bench-password-$RANDOM-$RANDOM\",\"display_name\":\"Feed Bench\",\"timezone\":\"America/Montreal\"}") ||
    die "registration failed"
TOKEN=$(printf '%s' "$REGISTER" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')
[ -n "$TOKEN" ] || die "no access_token in the registration answer: $REGISTER"

USER_ID=$(sql -c "SELECT id FROM users WHERE lower(email) = lower('$EMAIL')")
[ -n "$USER_ID" ] || die "user not found in the database"

say "seeding $EVENTS events and $REMINDERS open reminders for user $USER_ID"
ZONES="ARRAY['America/Montreal','Europe/Paris','Asia/Tokyo','Australia/Sydney','America/Sao_Paulo','Africa/Casablanca','Asia/Kolkata','Pacific/Auckland']"
sql -c "INSERT INTO events (id, organizer_id, kind, title, description, venue, address, city,
               starts_at, ends_at, timezone, join_code)
        SELECT gen_random_uuid(), '$USER_ID', 'apero', 'Apéro n°' || g || ', réseau; « Jelly »',
               repeat('Une description assez longue, avec des accents et des virgules. ', 4),
               'Le Zinc', '12, rue de la Paix', 'Montréal',
               timestamptz '2025-01-01 18:00Z' + (g * interval '26 hours'),
               timestamptz '2025-01-01 20:00Z' + (g * interval '26 hours'),
               ($ZONES)[1 + g % 8], 'B' || g
        FROM generate_series(1, $EVENTS) g" \
    -c "INSERT INTO reminders (id, owner_id, title, notes, due_local, timezone, due_at)
        SELECT gen_random_uuid(), '$USER_ID', 'Rappeler contact ' || g, 'Notes, avec; de quoi échapper',
               timestamp '2026-12-01 09:00' + (g * interval '1 day'), 'Europe/Paris',
               (timestamp '2026-12-01 09:00' + (g * interval '1 day')) AT TIME ZONE 'Europe/Paris'
        FROM generate_series(1, $REMINDERS) g" \
    -c "ANALYZE"

CREATED=$(curl -fsS --max-time 10 -X POST -H "Authorization: Bearer $TOKEN" "$BASE/v1/calendar/feed") ||
    die "POST /v1/calendar/feed failed"
FEED=$(printf '%s' "$CREATED" | sed -n 's/.*"url" *: *"\([^"]*\)".*/\1/p')
[ -n "$FEED" ] || die "no url in $CREATED"

# Warm-up and sanity: every item is in the feed.
curl -fsS --max-time 30 -D "$WORK/headers" -o "$WORK/feed.ics" "$FEED" || die "GET feed failed"
VEVENTS=$(grep -c '^BEGIN:VEVENT' "$WORK/feed.ics" || true)
[ "$VEVENTS" -eq $((EVENTS + REMINDERS)) ] || die "the feed has $VEVENTS VEVENTs, expected $((EVENTS + REMINDERS))"
VTIMEZONES=$(grep -c '^BEGIN:VTIMEZONE' "$WORK/feed.ics" || true)
BYTES=$(wc -c <"$WORK/feed.ics")
ETAG=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p' "$WORK/headers")
[ -n "$ETAG" ] || die "no ETag"
CODE=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -H "If-None-Match: $ETAG" "$FEED")
[ "$CODE" = 304 ] || die "If-None-Match answered $CODE, expected 304"

RSS_BEFORE=$(kb_of VmRSS)

# run_fetches FILE [curl args...]: FETCHES sequential requests, total time of each in ms.
run_fetches() {
    local out=$1
    shift
    : >"$out"
    for _ in $(seq 1 "$FETCHES"); do
        curl -sS -o /dev/null -w '%{time_total}\n' --max-time 30 "$@" "$FEED" >>"$out"
    done
}
# stats FILE: "median p95 max" in ms.
stats() {
    sort -g "$1" | awk '{ v[NR] = $1 * 1000 } END {
        p50 = v[int((NR + 1) / 2)]; p95 = v[int(NR * 0.95 + 0.999)]; printf "%.1f %.1f %.1f", p50, p95, v[NR] }'
}

say "timing $FETCHES full fetches"
run_fetches "$WORK/full"
say "timing $FETCHES revalidations (If-None-Match)"
run_fetches "$WORK/revalidate" -H "If-None-Match: $ETAG"
RSS_AFTER=$(kb_of VmRSS)
HWM=$(kb_of VmHWM)

read -r F50 F95 FMAX <<<"$(stats "$WORK/full")"
read -r R50 R95 RMAX <<<"$(stats "$WORK/revalidate")"

cat <<EOF
Feed of $EVENTS events (one every 26 hours from 2025-01-01, in 8 zones) and $REMINDERS open reminders: $((BYTES / 1024)) KiB, $VEVENTS VEVENTs, $VTIMEZONES VTIMEZONEs.

| request ($FETCHES sequential, curl) | median | p95 | max |
| --- | --- | --- | --- |
| \`GET /calendar/{token}.ics\` (200, full feed) | $F50 ms | $F95 ms | $FMAX ms |
| same with \`If-None-Match\` (304) | $R50 ms | $R95 ms | $RMAX ms |

Server memory: VmRSS $((RSS_BEFORE / 1024)) MiB after the warm-up fetch, $((RSS_AFTER / 1024)) MiB after the runs; peak (VmHWM) $((HWM / 1024)) MiB.
EOF
