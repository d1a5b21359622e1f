#!/usr/bin/env bash
# Carnet file-format benchmark.
#
# Measures, against the release server on a loopback port and a fresh database:
#   - GET /v1/events/{id}/attendees/export?format=csv for an event of 10,000 attendees:
#     wall time (curl's time_total, body fully read) and the server's resident memory
#     growth during the export (peak VmRSS sampled from /proc every few milliseconds,
#     and the VmHWM high-water mark, both minus VmRSS just before);
#   - POST /v1/contacts/import of a 10,000-card vCard file into an empty address book:
#     wall time, and the created count checked.
# Each export and import runs BENCH_RUNS times (3); the table gives every run.
# Prints a Markdown table on stdout (for docs/BENCHMARKS.md); progress goes to stderr.
#
#   benches/interop.sh
#
# Knobs (environment): BENCH_ATTENDEES (10000), BENCH_CARDS (10000), BENCH_RUNS (3),
# BENCH_DB (carnet_bench_interop, dropped first), CARNET_BIN (use this binary instead of
# building the release one in ${CARGO_TARGET_DIR:-target}).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ATTENDEES=${BENCH_ATTENDEES:-10000}
CARDS=${BENCH_CARDS:-10000}
RUNS=${BENCH_RUNS:-3}
BENCH_DB=${BENCH_DB:-carnet_bench_interop}

. "$ROOT/benches/lib.sh"

need curl
PSQL=$(find_pg_tool psql)

bench_urls
require_loopback_pg
choose_bin
make_work carnet-bench-interop
fresh_database
free_port 18181
start_server CARNET_PUBLIC_URL="$BASE" CARNET_ENV=development CARNET_ACCESS_TOKEN_TTL_SECS=3600

# register NAME: prints an access token.
register() {
    local answer
    answer=$(curl -fsS --max-time 30 -X POST "$BASE/v1/auth/register" -H 'Content-Type: application/json' \
        -d "{\"email\":\"$1-$(date +%s%N)@example.com\",\"password\":\"bench-password-$RANDOM-$RANDOM\",\"display_name\":\"$1\",\"locale\":\"fr-FR\"}") ||
        die "registration failed"
    printf '%s' "$answer" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p'
}

ORGANIZER=$(register organizer)
curl -fsS -o /dev/null --max-time 30 -X POST "$BASE/v1/events" -H "Authorization: Bearer $ORGANIZER" \
    -H 'Content-Type: application/json' \
    -d '{"kind":"conference","title":"Bench","starts_at":"2026-12-03T09:00:00Z"}' || die "event creation failed"
EVENT=$(sql -c "SELECT id FROM events ORDER BY created_at DESC LIMIT 1")
[ -n "$EVENT" ] || die "no event"

say "seeding $ATTENDEES attendees (half of them users with a profile card, half of those consenting)"
USERS=$((ATTENDEES / 2))
sql -c "INSERT INTO users (id, email, password_hash, display_name, timezone, locale)
        SELECT gen_random_uuid(), 'bench-user-' || g || '@example.com', 'x', 'Bench User ' || g, 'Europe/Paris', 'fr-FR'
        FROM generate_series(1, $USERS) g" \
    -c "INSERT INTO profile_cards (owner_id, headline, organization, email, phone, links, city)
        SELECT id, 'Fondatrice', 'Coop \"du\" Coin, Lyon', replace(email, 'bench-user', 'card'), '+33612345678', '{}', 'Lyon'
        FROM users WHERE email LIKE 'bench-user-%'
        ON CONFLICT (owner_id) DO UPDATE SET headline = EXCLUDED.headline, organization = EXCLUDED.organization,
            email = EXCLUDED.email, phone = EXCLUDED.phone, city = EXCLUDED.city" \
    -c "INSERT INTO attendances (id, event_id, user_id, status, role, share_profile, checkin_code, created_at)
        SELECT gen_random_uuid(), '$EVENT', id, 'registered', 'attendee', random() < 0.5,
               'U' || substr(md5(id::text), 1, 12), now()
        FROM users WHERE email LIKE 'bench-user-%'" \
    -c "INSERT INTO attendances (id, event_id, guest_name, guest_email, status, role, checkin_code, created_at)
        SELECT gen_random_uuid(), '$EVENT', 'Invité ' || g, 'guest' || g || '@example.org', 'registered', 'attendee',
               'G' || lpad(g::text, 12, '0'), now()
        FROM generate_series(1, $((ATTENDEES - USERS))) g" \
    -c "ANALYZE"
COUNT=$(sql -c "SELECT count(*) FROM attendances WHERE event_id = '$EVENT'")
say "the event has $COUNT attendances (the organizer included)"

# sample_rss FILE: the highest VmRSS (kB) seen until FILE.stop exists, written to FILE.
sample_rss() {
    local out=$1 peak=0 kb
    while [ ! -e "$out.stop" ]; do
        kb=$(kb_of VmRSS)
        [ -n "$kb" ] && [ "$kb" -gt "$peak" ] && peak=$kb
        sleep 0.005
    done
    printf '%s\n' "$peak" >"$out"
}

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# A warm-up export, so that first-use allocations (pool connections, code pages) are not counted.
curl -fsS -o /dev/null --max-time 60 -H "Authorization: Bearer $ORGANIZER" \
    "$BASE/v1/events/$EVENT/attendees/export?format=csv"

EXPORT_ROWS=""
for run in $(seq 1 "$RUNS"); do
    before=$(kb_of VmRSS)
    hwm_before=$(kb_of VmHWM)
    rm -f "$WORK/rss" "$WORK/rss.stop"
    sample_rss "$WORK/rss" &
    sampler=$!
    time_total=$(curl -fsS -o "$WORK/export.csv" -w '%{time_total}' --max-time 60 \
        -H "Authorization: Bearer $ORGANIZER" "$BASE/v1/events/$EVENT/attendees/export?format=csv")
    touch "$WORK/rss.stop"
    wait "$sampler"
    peak=$(cat "$WORK/rss")
    hwm=$(kb_of VmHWM)
    lines=$(($(wc -l <"$WORK/export.csv") - 1))
    bytes=$(wc -c <"$WORK/export.csv")
    [ "$lines" -ge "$ATTENDEES" ] || die "the export has $lines rows, expected at least $ATTENDEES"
    growth=$((peak > before ? peak - before : 0))
    hwm_growth=$((hwm > hwm_before ? hwm - before : 0))
    say "export run $run: ${time_total}s, $lines rows, $bytes bytes, RSS $before -> peak $peak kB"
    EXPORT_ROWS+="| export CSV, run $run | $lines rows, $(mb $((bytes / 1024))) MB | ${time_total} s | $(mb "$before") MB | $(mb "$growth") MB | $(mb "$hwm_growth") MB |"$'\n'
done

say "writing $CARDS vCards"
awk -v n="$CARDS" 'BEGIN {
    for (i = 1; i <= n; i++) {
        printf "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Personne %d;Léa;;;\r\nFN:Léa Personne %d\r\n", i, i
        printf "ORG:Coopérative %d;Ventes\r\nTITLE:Fondatrice\r\n", i % 100
        printf "TEL;TYPE=CELL,VOICE:06 %02d %02d %02d %02d\r\n", 10 + (i / 1000000) % 90, (i / 10000) % 100, (i / 100) % 100, i % 100
        printf "EMAIL;type=INTERNET;type=pref:lea.%d@example.org\r\n", i
        printf "ADR;TYPE=WORK:;;%d rue de la République;Lyon;;69002;France\r\n", i
        printf "CATEGORIES:apéro,réseau\r\nNOTE:Rencontrée à l'\''apéro\\, très sympa\\nÀ rappeler\r\nEND:VCARD\r\n"
    }
}' >"$WORK/cards.vcf"
say "the file has $(wc -c <"$WORK/cards.vcf") bytes"

IMPORT_ROWS=""
for run in $(seq 1 "$RUNS"); do
    TOKEN=$(register "importer$run")
    answer=$(curl -fsS -o "$WORK/import.json" -w '%{time_total}' --max-time 120 -X POST \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/vcard' \
        --data-binary "@$WORK/cards.vcf" "$BASE/v1/contacts/import")
    created=$(sed -n 's/.*"created":\([0-9]*\).*/\1/p' "$WORK/import.json")
    [ "$created" = "$CARDS" ] || die "import created ${created:-?} contacts, expected $CARDS: $(head -c 300 "$WORK/import.json")"
    say "import run $run: ${answer}s, $created created"
    IMPORT_ROWS+="| import vCard, run $run | $CARDS cards, $(mb $(($(wc -c <"$WORK/cards.vcf") / 1024))) MB, $created created | ${answer} s | | | |"$'\n'
done

cat <<EOF
| what | size | time | RSS before | peak RSS growth (sampled) | VmHWM growth |
| --- | --- | --- | --- | --- | --- |
${EXPORT_ROWS}${IMPORT_ROWS}
EOF
