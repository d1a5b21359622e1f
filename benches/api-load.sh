#!/usr/bin/env bash
# Carnet HTTP load benchmark.
#
# Measures, at 64 connections, throughput and p50/p99 latency of
#   GET  /v1/contacts?limit=50   (a page of 50 for a user who has 10,000 contacts)
#   POST /v1/contacts            ({"name":"Load Test N"})
# with wrk against the release server, and the same SQL with pgbench against the
# same database in the same run (the floor the API is compared with), plus the
# server's resident memory (peak VmRSS sampled during each load, and VmHWM).
# Prints a Markdown table on stdout (for docs/BENCHMARKS.md); progress goes to stderr.
#
#   benches/api-load.sh
#
# Knobs (environment): BENCH_DURATION (15 s per run), BENCH_CONNECTIONS (64),
# BENCH_THREADS (2), BENCH_CONTACTS (10000), BENCH_DB (carnet_bench, dropped first),
# CARNET_BIN (use this binary instead of building ${CARGO_TARGET_DIR:-target}/release/carnet),
# CARNET_DB_POOL_SIZE (server pool, default of the server: 16).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-15}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
CONTACTS=${BENCH_CONTACTS:-10000}
BENCH_DB=${BENCH_DB:-carnet_bench}
LUA="$ROOT/benches/contacts.lua"

. "$ROOT/benches/lib.sh"

# ---------------------------------------------------------------------------
# Set-up

need curl
ensure_wrk
PSQL=$(find_pg_tool psql)
PGBENCH=$(find_pg_tool pgbench)

bench_urls
require_loopback_pg
choose_bin
make_work
fresh_database "on $(url_with_db "$SERVER_URL" '')"
free_port 18080
start_server CARNET_PUBLIC_URL="$BASE" CARNET_ENV=development CARNET_ACCESS_TOKEN_TTL_SECS=3600

EMAIL="bench-$(date +%s)@example.com"
say "registering $EMAIL"
REGISTER=$(curl -fsS --max-time 30 -X POST "$BASE/v1/auth/register" \
    -H 'Content-Type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"bench-password-$RANDOM-$RANDOM\",\"display_name\":\"Load Bench\"}") ||
    die "registration failed"
TOKEN=$(printf '%s' "$REGISTER" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')
[ -n "$TOKEN" ] || die "no access_token in the registration answer: $REGISTER"

USER_ID=$(sql -c "SELECT id FROM users WHERE lower(email) = lower('$EMAIL')")
SESSION_ID=$(sql -c "SELECT id FROM sessions WHERE user_id = '$USER_ID' ORDER BY created_at DESC LIMIT 1")
[ -n "$USER_ID" ] && [ -n "$SESSION_ID" ] || die "user or session not found in the database"

say "seeding $CONTACTS contacts for user $USER_ID"
sql -c "INSERT INTO contacts (id, owner_id, name, organization, tags, created_at, updated_at)
        SELECT gen_random_uuid(), '$USER_ID', 'Contact ' || g, 'Org ' || (g % 100),
               ARRAY['tag' || (g % 10)], now(), now()
        FROM generate_series(1, $CONTACTS) g" -c "ANALYZE"

# Sanity: the API answers a full page for this user before we load it.
PAGE=$(curl -fsS --max-time 10 -H "Authorization: Bearer $TOKEN" "$BASE/v1/contacts?limit=50") ||
    die "GET /v1/contacts failed before the load"
ITEMS=$(printf '%s' "$PAGE" | grep -o '"name" *: *"Contact [0-9]*"' | wc -l)
[ "$ITEMS" -eq 50 ] || die "GET /v1/contacts?limit=50 returned $ITEMS seeded contacts, expected 50"
CODE=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X POST "$BASE/v1/contacts" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"name":"Load Test 0"}')
[ "$CODE" = 201 ] || die "POST /v1/contacts answered $CODE, expected 201"

# ---------------------------------------------------------------------------
# Equivalent SQL for pgbench, as the API issues it (api/src/db): the session check
# every authenticated request makes, then the page (limit + 1 rows, to know whether
# another page follows) or the insert. Prepared mode, as diesel prepares its statements.

COLUMNS="id, owner_id, name, organization, job_title, city, emails, phones, links, tags, notes,
  how_we_met, met_at_event_id, first_met_on, they_brought, i_can_offer, met_in_person,
  keep_in_touch_days, starred, last_interaction_at, created_at, updated_at"
SESSION_CHECK="SELECT EXISTS (SELECT 1 FROM sessions WHERE id = :sid AND user_id = :uid AND revoked_at IS NULL);"
cat >"$WORK/list.sql" <<EOF
$SESSION_CHECK
SELECT $COLUMNS
FROM contacts WHERE owner_id = :uid AND deleted_at IS NULL ORDER BY id LIMIT 51;
EOF
cat >"$WORK/create.sql" <<EOF
$SESSION_CHECK
INSERT INTO contacts (id, owner_id, name, organization, job_title, city, emails, phones, links, tags,
  notes, how_we_met, met_at_event_id, first_met_on, they_brought, i_can_offer, met_in_person,
  keep_in_touch_days, starred)
VALUES (gen_random_uuid(), :uid, 'Load Test SQL', NULL, NULL, NULL, '{}', '{}', '{}', '{}',
  '', '', NULL, NULL, '', '', false, NULL, false)
ON CONFLICT (id) DO NOTHING
RETURNING $COLUMNS;
EOF

# ---------------------------------------------------------------------------
# Runs

# sample_rss FILE SECONDS: the highest VmRSS (kB) seen until FILE.stop exists
# or SECONDS pass, written to FILE.
sample_rss() {
    local out=$1 limit=$2 peak=0 kb end
    end=$((SECONDS + limit))
    while [ ! -e "$out.stop" ] && [ "$SECONDS" -lt "$end" ]; do
        kb=$(kb_of VmRSS)
        [ -n "$kb" ] && [ "$kb" -gt "$peak" ] && peak=$kb
        sleep 0.2
    done
    printf '%s\n' "$peak" >"$out"
}

# run_wrk NAME MODE URL: fills API_<NAME>_{rps,p50,p99,bad,rss}.
run_wrk() {
    local name=$1 mode=$2 url=$3 line
    say "wrk: $mode $url (-t$THREADS -c$CONNS -d${DURATION}s)"
    sample_rss "$WORK/rss.$name" $((DURATION + 30)) &
    local sampler=$!
    CARNET_BENCH_TOKEN=$TOKEN CARNET_BENCH_MODE=$mode \
        timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency \
        -s "$LUA" "$url" >"$WORK/wrk.$name" 2>&1 || { cat "$WORK/wrk.$name" >&2; die "wrk failed"; }
    touch "$WORK/rss.$name.stop"
    wait "$sampler"
    line=$(grep '^CARNET_BENCH ' "$WORK/wrk.$name") || { cat "$WORK/wrk.$name" >&2; die "no summary from wrk"; }
    eval "$(printf '%s' "${line#CARNET_BENCH }" | tr ' ' '\n' | sed "s/^/W_/")"
    printf -v "API_${name}_rps" '%s' "$W_rps"
    printf -v "API_${name}_p50" '%s' "$(awk -v u="$W_p50_us" 'BEGIN { printf "%.2f", u / 1000 }')"
    printf -v "API_${name}_p99" '%s' "$(awk -v u="$W_p99_us" 'BEGIN { printf "%.2f", u / 1000 }')"
    printf -v "API_${name}_bad" '%s' "$((W_non2xx + W_socket_errors))"
    printf -v "API_${name}_rss" '%s' "$(awk -v k="$(cat "$WORK/rss.$name")" 'BEGIN { printf "%.1f", k / 1024 }')"
    say "  $W_requests requests, $W_rps req/s, non-2xx $W_non2xx, socket errors $W_socket_errors"
}

# run_pgbench NAME FILE: fills SQL_<NAME>_{tps,p50,p99,failed}.
run_pgbench() {
    local name=$1 file=$2 dir tps pcts
    dir="$WORK/pgbench.$name"
    mkdir -p "$dir"
    say "pgbench: $(basename "$file") (-M prepared -c$CONNS -j$THREADS -T$DURATION)"
    (cd "$dir" && timeout $((DURATION + 60)) "$PGBENCH" -n -M prepared -c "$CONNS" -j "$THREADS" -T "$DURATION" \
        -D uid="$USER_ID" -D sid="$SESSION_ID" -l -f "$file" "$DB_URL" >"$dir/out" 2>&1) ||
        { cat "$dir/out" >&2; die "pgbench failed"; }
    grep -q 'aborted' "$dir/out" && { cat "$dir/out" >&2; die "pgbench clients aborted"; }
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$dir/out" | tail -n 1)
    # Per-transaction log: the third field is the latency in microseconds.
    pcts=$(cat "$dir"/pgbench_log.* | awk '{ print $3 }' | sort -n |
        awk '{ v[NR] = $1 } END { i50 = int(NR * 0.50); i99 = int(NR * 0.99); if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1;
              printf "%.2f %.2f", v[i50] / 1000, v[i99] / 1000 }')
    printf -v "SQL_${name}_tps" '%.1f' "$tps"
    printf -v "SQL_${name}_p50" '%s' "${pcts% *}"
    printf -v "SQL_${name}_p99" '%s' "${pcts#* }"
    printf -v "SQL_${name}_failed" '%s' "$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$dir/out")"
    rm -f "$dir"/pgbench_log.*
    say "  $tps tps"
}

RSS_IDLE=$(awk -v k="$(kb_of VmRSS)" 'BEGIN { printf "%.1f", k / 1024 }')

run_wrk list list "$BASE/v1/contacts?limit=50"
run_pgbench list "$WORK/list.sql"
run_wrk create create "$BASE/v1/contacts"
run_pgbench create "$WORK/create.sql"

HWM=$(awk -v k="$(kb_of VmHWM)" 'BEGIN { printf "%.1f", k / 1024 }')
kill -0 "$SERVER_PID" 2>/dev/null || die "the server died during the run"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

run_facts

cat <<EOF
Run: $(date -u +%Y-%m-%dT%H:%MZ), $REV, $(nproc) CPU(s) (load average $LOAD at the end), PostgreSQL $PG_VERSION, server pool ${CARNET_DB_POOL_SIZE:-16}, $CONNS connections, ${DURATION}s per run, $THREADS wrk threads / pgbench jobs, wrk and pgbench on the same machine.

| Workload | API req/s | API p50 ms | API p99 ms | API non-2xx/errors | SQL tps (pgbench) | SQL p50 ms | SQL p99 ms | API/SQL throughput | Server peak RSS MB |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| \`GET /v1/contacts?limit=50\` ($CONTACTS contacts) | $API_list_rps | $API_list_p50 | $API_list_p99 | $API_list_bad | $SQL_list_tps | $SQL_list_p50 | $SQL_list_p99 | $(ratio "$API_list_rps" "$SQL_list_tps") | $API_list_rss |
| \`POST /v1/contacts\` | $API_create_rps | $API_create_p50 | $API_create_p99 | $API_create_bad | $SQL_create_tps | $SQL_create_p50 | $SQL_create_p99 | $(ratio "$API_create_rps" "$SQL_create_tps") | $API_create_rss |

Server resident memory: ${RSS_IDLE} MB idle after seeding, ${HWM} MB high-water mark (VmHWM) over the whole run.
EOF
