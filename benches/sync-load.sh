#!/usr/bin/env bash
# Carnet sync benchmark.
#
# Starts the release server on a loopback port with a fresh database and runs
# benches/sync_load.py against it: push throughput (field mutations/s, batches of 100
# contacts x 10 fields), initial sync of BENCH_CONTACTS contacts (time, gzip bytes),
# pull throughput (one device parsing every page; BENCH_PULLERS devices at once), pull
# p50/p99 with BENCH_FEED_ROWS rows in the change feed, and in the same run the COPY
# baselines of the same rows. Prints a Markdown table on stdout (for
# docs/BENCHMARKS.md); progress goes to stderr.
#
#   benches/sync-load.sh
#
# Knobs (environment): BENCH_CONTACTS (100000), BENCH_PUSHERS (4 devices pushing at once),
# BENCH_PULLERS (4 devices pulling at once), BENCH_VACUUM (1: VACUUM ANALYZE before the pulls),
# BENCH_PULLS (200), BENCH_FEED_ROWS (1000000), BENCH_DB (carnet_sync_bench, dropped first),
# CARNET_BIN (use this binary instead of building the release one; the build honours
# CARGO_TARGET_DIR).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DB=${BENCH_DB:-carnet_sync_bench}

. "$ROOT/benches/lib.sh"

need python3 curl
PSQL=$(find_pg_tool psql)

bench_urls
choose_bin
make_work carnet-sync-bench
fresh_database
free_port 18280
start_server CARNET_JWT_SECRET=bench-secret-bench-secret-bench-secret-0000

say "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
CARNET_BENCH_URL=$BASE CARNET_BENCH_DB_URL=$DB_URL PSQL=$PSQL \
    python3 "$ROOT/benches/sync_load.py"
