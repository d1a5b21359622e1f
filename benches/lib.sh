# Shared set-up of the shell benchmarks in benches/: tools, the fresh bench database,
# the server under test on a loopback port, its memory, and the clean-up at exit.
#
# Sourced by each script after it sets ROOT (the repository) and BENCH_DB (the database
# it drops and lets the server create):
#
#   . "$ROOT/benches/lib.sh"
#
# Only defines functions; each one says below which variables it sets. They are written
# for the scripts' `set -euo pipefail`: call them as plain commands (not inside `if`,
# `&&` or `||`), so that a failing step stops the script. The usual order is
#
#   need curl; PSQL=$(find_pg_tool psql)
#   bench_urls; require_loopback_pg; choose_bin; make_work
#   fresh_database; free_port 18080; start_server CARNET_ENV=development ...

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}

# url_with_db URL DB: prints the same server's URL with database DB (query string kept).
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

# need COMMAND...: dies ("COMMAND not found") at the first one that is not on PATH.
need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || die "$c not found"
    done
}

# ensure_wrk: installs wrk with apt-get (as root or with passwordless sudo) if it is missing.
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

# find_pg_tool NAME: prints the path of a PostgreSQL program (psql, pgbench), from PATH,
# pg_config --bindir or the newest /usr/lib/postgresql/*/bin. Used as PSQL=$(find_pg_tool psql);
# sets nothing.
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
# Database and server binary

# bench_urls: asks deploy/local.sh for a PostgreSQL server (starting one if needed) and
# sets SERVER_URL (as printed), DB_URL (database BENCH_DB) and ADMIN_URL (database postgres).
bench_urls() {
    SERVER_URL=$(bash "$ROOT/deploy/local.sh" db </dev/null)
    DB_URL=$(url_with_db "$SERVER_URL" "$BENCH_DB")
    ADMIN_URL=$(url_with_db "$SERVER_URL" postgres)
}

# require_loopback_pg: dies unless SERVER_URL is on 127.0.0.1, localhost or [::1]. Sets nothing.
require_loopback_pg() {
    case $SERVER_URL in
        *@127.0.0.1:* | *@localhost:* | *@\[::1\]:*) ;;
        *) die "the benchmark only runs against a loopback PostgreSQL (got $SERVER_URL)" ;;
    esac
}

# choose_bin: sets BIN to CARNET_BIN if set, else builds the release server
# (cargo build --release -p carnet) and takes it from ${CARGO_TARGET_DIR:-$ROOT/target}/release.
# Dies unless BIN is executable.
choose_bin() {
    if [ -n "${CARNET_BIN:-}" ]; then
        BIN=$CARNET_BIN
    else
        say "building the release binary (cargo build --release -p carnet)"
        (cd "$ROOT" && cargo build --release -p carnet >&2)
        BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/carnet"
    fi
    [ -x "$BIN" ] || die "no server binary at $BIN"
}

# make_work [PREFIX]: sets WORK (a new scratch directory, ${TMPDIR:-/tmp}/PREFIX.XXXXXX,
# PREFIX carnet-bench by default) and SERVER_PID (empty until start_server), and traps EXIT
# to run cleanup (INT and TERM exit with 130, which runs it too).
make_work() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/${1:-carnet-bench}.XXXXXX")
    SERVER_PID=""
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

# cleanup: stops the server started by start_server (TERM, then KILL after 5 s) and removes
# WORK. Sets nothing; make_work installs it as the EXIT trap.
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}

# fresh_database [WORDS]: drops BENCH_DB (the server creates and migrates it again at
# start-up), saying "fresh database BENCH_DB WORDS" first. Needs PSQL and ADMIN_URL; sets nothing.
fresh_database() {
    say "fresh database $BENCH_DB${1:+ $1}"
    PGOPTIONS="-c client_min_messages=warning" "$PSQL" "$ADMIN_URL" -w -X -q -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" </dev/null
}

# sql ARGS...: psql on the bench database (PSQL, DB_URL), unaligned, tuples only, stopping at
# the first error. Sets nothing.
sql() { "$PSQL" "$DB_URL" -w -X -q -A -t -v ON_ERROR_STOP=1 "$@" </dev/null; }

# ---------------------------------------------------------------------------
# Server

# free_port FIRST: sets PORT to the first port in FIRST..FIRST+100 on which nothing answers
# on 127.0.0.1, and BASE to http://127.0.0.1:PORT.
free_port() {
    local first=$1 p
    PORT=""
    for p in $(seq "$first" $((first + 100))); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then PORT=$p; break; fi
    done
    [ -n "$PORT" ] || die "no free port in $first-$((first + 100))"
    BASE="http://127.0.0.1:$PORT"
}

# start_server [NAME=VALUE...]: starts "$BIN serve" in the background on 127.0.0.1:PORT with
# DATABASE_URL=DB_URL, CARNET_LOG=warn and the script's own settings given as arguments,
# its output in WORK/server.log; sets SERVER_PID and waits (at most 60 s: start-up creates
# the database and migrates it) until GET BASE/readyz answers. Dies, with the end of the
# server's log, if the server exits first or is not ready in time.
start_server() {
    local ready=""
    say "starting $BIN serve on 127.0.0.1:$PORT"
    env DATABASE_URL="$DB_URL" CARNET_LISTEN="127.0.0.1:$PORT" CARNET_LOG=warn "$@" \
        "$BIN" serve >"$WORK/server.log" 2>&1 </dev/null &
    SERVER_PID=$!
    for _ in $(seq 1 600); do
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 30 "$WORK/server.log" >&2; die "the server exited during start-up"; }
        if curl -fsS -o /dev/null --max-time 2 "$BASE/readyz" 2>/dev/null; then ready=1; break; fi
        sleep 0.1
    done
    [ -n "$ready" ] || { tail -n 30 "$WORK/server.log" >&2; die "the server was not ready within 60 s"; }
}

# kb_of FIELD: prints the server's /proc status field FIELD (VmRSS, VmHWM) in kB, or nothing
# once the server is gone. Shell built-ins only, so it can sample every few milliseconds.
# Sets nothing.
kb_of() {
    local k v _
    {
        while read -r k v _; do
            [ "$k" = "$1:" ] && { printf '%s\n' "$v"; return 0; }
        done <"/proc/$SERVER_PID/status"
    } 2>/dev/null || true
}

# run_facts: for the "Run:" line of a report, sets PG_VERSION (of the bench database's
# server), REV ("binary CARNET_BIN", or "commit <short hash>" when the script built the
# server) and LOAD (the 1-minute load average).
run_facts() {
    PG_VERSION=$(sql -c "SHOW server_version" | cut -d' ' -f1)
    if [ -n "${CARNET_BIN:-}" ]; then
        REV="binary $CARNET_BIN"
    else
        REV="commit $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    fi
    LOAD=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')
}
