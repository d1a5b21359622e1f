#!/usr/bin/env bash
# Push load benchmark: release build of tests/examples/push_load.rs, Carnet's push workers
# against a loopback webhook receiver, 1 and 4 workers. Needs DATABASE_URL (server part
# only: a fresh database is cloned from the migrated template for each run).
# Knobs: PUSH_WORKERS (default 1,4), PUSH_BACKLOG (20000), PUSH_RATE (500 pushes/s).
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
exec cargo run --release --quiet -p carnet-tests --example push_load
