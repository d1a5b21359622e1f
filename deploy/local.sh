#!/usr/bin/env bash
# Carnet local bootstrap: makes sure a PostgreSQL server is reachable, exports
# DATABASE_URL, then runs the server or the test suite.
#
#   deploy/local.sh serve [args...]   ensure PostgreSQL, then `cargo run --release -p carnet -- serve`
#   deploy/local.sh test  [args...]   ensure PostgreSQL, then `cargo test --workspace`
#   deploy/local.sh db                ensure PostgreSQL, print the DATABASE_URL on stdout
#   deploy/local.sh stop-db           stop the private cluster under .carnet/pg if it runs
#
# PostgreSQL is found in this order (each step says what it found on stderr):
#   a. DATABASE_URL, if set and its server answers;
#   b. the default local server, postgres://postgres@127.0.0.1:5432 (database `carnet`);
#   c. a private cluster under .carnet/pg, on 127.0.0.1:$CARNET_PG_PORT (55432),
#      trust auth, superuser `postgres`, started with the system's PostgreSQL binaries;
#   d. if there are no PostgreSQL server binaries, they are installed with the system
#      package manager (unless CARNET_NO_INSTALL=1), then b and c are tried again.
#
# Knobs: CARNET_PG_PORT (55432), CARNET_PG_DATA (.carnet/pg), CARNET_NO_INSTALL (unset),
# CARNET_PG_DEFAULT_URL (postgres://postgres@127.0.0.1:5432/, the server tried in step b).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_PORT=${CARNET_PG_PORT:-55432}
PG_DATA=${CARNET_PG_DATA:-$ROOT/.carnet/pg}
DEFAULT_URL=${CARNET_PG_DEFAULT_URL:-postgres://postgres@127.0.0.1:5432/}
DB_NAME=carnet
# libpq waits this long (seconds, minimum 2) for a server before giving up.
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-3}

say() { printf 'carnet: %s\n' "$*" >&2; }
die() {
    printf 'carnet: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

is_root() { [ "$(id -u)" = 0 ]; }

# ---------------------------------------------------------------------------
# URLs

# url_with_db URL DB: the same server, another database (query string kept).
url_with_db() {
    local url=$1 db=$2 scheme rest query="" authority
    case $url in
        *://*) ;;
        # A key=value conninfo string: a later dbname overrides an earlier one.
        *) printf '%s dbname=%s' "$url" "$db"; return ;;
    esac
    scheme=${url%%://*}
    rest=${url#*://}
    case $rest in *\?*) query="?${rest#*\?}"; rest=${rest%%\?*} ;; esac
    authority=${rest%%/*}
    printf '%s://%s/%s%s' "$scheme" "$authority" "$db" "$query"
}

# plain_loopback URL: URL with sslmode=disable when its host is this machine's loopback
# address and it names no sslmode, if the server answers that way; else URL unchanged.
# libpq prefers TLS when the server offers it (Debian's does), and TLS over loopback
# protects nothing while it costs both sides CPU on every row (about a sixth of a sync
# pull's, docs/BENCHMARKS.md).
plain_loopback() {
    local url=$1 plain
    case $url in
        *sslmode=*) printf '%s' "$url"; return ;;
        *://*@127.0.0.1[:/]* | *://127.0.0.1[:/]* | *://*@localhost[:/]* | *://localhost[:/]* | *://*@\[::1\]*) ;;
        *) printf '%s' "$url"; return ;;
    esac
    case $url in *\?*) plain="$url&sslmode=disable" ;; *) plain="$url?sslmode=disable" ;; esac
    if server_answers "$plain"; then printf '%s' "$plain"; else printf '%s' "$url"; fi
}

# url_host_port URL: "host port" for a TCP probe when no psql is available.
url_host_port() {
    local rest=${1#*://} hostport
    rest=${rest%%[/?]*}
    hostport=${rest##*@}
    case $hostport in
        \[*\]:*) printf '%s %s' "${hostport%%]*}" "${hostport##*]:}" | tr -d '[' ;;
        \[*\]) printf '%s 5432' "$hostport" | tr -d '[]' ;;
        *:*) printf '%s %s' "${hostport%%:*}" "${hostport##*:}" ;;
        '') printf 'localhost 5432' ;;
        *) printf '%s 5432' "$hostport" ;;
    esac
}

# ---------------------------------------------------------------------------
# PostgreSQL binaries

# Prints candidate bin directories, best first: pg_config's, Debian's
# /usr/lib/postgresql/<version>/bin newest first, other layouts, then PATH.
pg_bindir_candidates() {
    local d
    if command -v pg_config >/dev/null 2>&1; then
        pg_config --bindir 2>/dev/null || true
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin /usr/pgsql-*/bin /usr/local/pgsql/bin \
        /opt/homebrew/opt/postgresql@*/bin /usr/local/opt/postgresql@*/bin \
        /opt/homebrew/opt/postgresql/bin /usr/local/opt/postgresql/bin 2>/dev/null |
        sort -V -r); do
        printf '%s\n' "$d"
    done
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

# pg_server_bindir [MAJOR]: a directory with initdb, pg_ctl and postgres
# (of that major version when given).
pg_server_bindir() {
    local want=${1:-} d v
    while IFS= read -r d; do
        [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] || continue
        if [ -n "$want" ]; then
            v=$("$d/pg_ctl" --version 2>/dev/null | sed -n 's/.* \([0-9][0-9]*\)[.0-9]*.*/\1/p')
            [ "$v" = "$want" ] || continue
        fi
        printf '%s\n' "$d"
        return 0
    done < <(pg_bindir_candidates)
    return 1
}

# psql_bin: the psql client (PATH first, then next to the server binaries).
psql_bin() {
    local d
    if command -v psql >/dev/null 2>&1; then
        command -v psql
        return 0
    fi
    while IFS= read -r d; do
        [ -n "$d" ] && [ -x "$d/psql" ] && { printf '%s\n' "$d/psql"; return 0; }
    done < <(pg_bindir_candidates)
    return 1
}

# server_answers URL: true when the server behind URL accepts a login. The
# target database may not exist yet (serve/migrate create it), so the check
# connects to the `postgres` database of the same server.
server_answers() {
    local url psql hp
    url=$(url_with_db "$1" postgres)
    if psql=$(psql_bin); then
        "$psql" "$url" -w -X -A -t -q -c 'select 1' </dev/null >/dev/null 2>&1
    else
        # No client at all: a TCP probe is the best we can do.
        hp=$(url_host_port "$1")
        timeout 3 bash -c "exec 3<>/dev/tcp/${hp% *}/${hp#* }" 2>/dev/null
    fi
}

# why_not URL: a short reason for a server that did not answer.
why_not() {
    local d
    d=$(dirname "$(psql_bin 2>/dev/null || echo /nonexistent/psql)")
    if [ -x "$d/pg_isready" ] && "$d/pg_isready" -q -d "$(url_with_db "$1" postgres)" </dev/null 2>/dev/null; then
        printf 'a server listens there but refused the login (password or pg_hba.conf?)'
    else
        printf 'nothing answers there'
    fi
}

# ---------------------------------------------------------------------------
# Installing packages (step d)

# pkg_install KIND: KIND is `server` (PostgreSQL server + libpq headers) or `libpq`.
pkg_install() {
    local kind=$1 sudo=()
    if [ "${CARNET_NO_INSTALL:-}" = 1 ]; then
        if [ "$kind" = server ]; then
            die "no PostgreSQL server binaries found and CARNET_NO_INSTALL=1 forbids installing them; install PostgreSQL (Debian/Ubuntu: postgresql libpq-dev; Fedora: postgresql-server libpq-devel; Alpine: postgresql libpq-dev; macOS: brew install postgresql@16), or set DATABASE_URL to a running server"
        else
            die "libpq (headers and library) not found and CARNET_NO_INSTALL=1 forbids installing it; install it (Debian/Ubuntu: libpq-dev; Fedora: libpq-devel; Alpine: libpq-dev; macOS: brew install libpq)"
        fi
    fi
    if command -v brew >/dev/null 2>&1 && [ "$(uname -s)" = Darwin ]; then
        if [ "$kind" = server ]; then
            say "installing PostgreSQL with brew (brew install postgresql@16)"
            brew install postgresql@16 >&2
        else
            say "installing libpq with brew (brew install libpq)"
            brew install libpq >&2
        fi
        return
    fi
    if ! is_root; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            die "cannot install $( [ "$kind" = server ] && echo 'the PostgreSQL server' || echo libpq ): not root and no passwordless sudo; install it yourself (Debian/Ubuntu: sudo apt-get install postgresql libpq-dev), or set DATABASE_URL to a running server"
        fi
    fi
    if command -v apt-get >/dev/null 2>&1; then
        local pkgs=(libpq-dev)
        [ "$kind" = server ] && pkgs=(postgresql libpq-dev)
        say "installing ${pkgs[*]} with apt-get"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
    elif command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null 2>&1; then
        local pm pkgs=(libpq-devel)
        pm=$(command -v dnf || command -v yum)
        [ "$kind" = server ] && pkgs=(postgresql-server postgresql libpq-devel)
        say "installing ${pkgs[*]} with $(basename "$pm")"
        "${sudo[@]}" "$pm" install -y "${pkgs[@]}" >&2
    elif command -v apk >/dev/null 2>&1; then
        local pkgs=(libpq-dev)
        [ "$kind" = server ] && pkgs=(postgresql postgresql-client libpq-dev)
        say "installing ${pkgs[*]} with apk"
        "${sudo[@]}" apk add --no-cache "${pkgs[@]}" >&2
    else
        die "no supported package manager (apt-get, dnf, yum, apk, brew) found; install PostgreSQL and libpq yourself, or set DATABASE_URL to a running server"
    fi
}

# ---------------------------------------------------------------------------
# The private cluster (step c)

PG_USER=""        # system user that owns the cluster when we run as root
PG_BINDIR=""

# run_pg CMD...: runs a PostgreSQL tool; initdb and pg_ctl refuse to run as
# root, so as root they run as the `postgres` system user.
run_pg() {
    if [ -z "$PG_USER" ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u "$PG_USER" -- "$@"
    else
        su "$PG_USER" -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
}

ensure_pg_user() {
    is_root || return 0
    PG_USER=postgres
    getent passwd postgres >/dev/null 2>&1 && return 0
    say "creating the postgres system user (initdb refuses to run as root)"
    if command -v useradd >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/sh postgres
    elif command -v adduser >/dev/null 2>&1; then
        adduser -S -D -H -h /var/lib/postgresql -s /bin/sh postgres 2>/dev/null ||
            adduser --system --group --home /var/lib/postgresql postgres
    else
        die "running as root, there is no postgres system user and no useradd/adduser to create one"
    fi
}

# As root the cluster belongs to `postgres`, which must be able to reach the
# data directory; a repository under a private home (/root) is out of its
# reach, so the cluster then lives in that user's home instead.
choose_pg_data() {
    [ -n "$PG_USER" ] || return 0
    [ -n "${CARNET_PG_DATA:-}" ] && return 0
    mkdir -p "$(dirname "$PG_DATA")"
    if ! run_pg test -x "$(dirname "$PG_DATA")"; then
        local home
        home=$(getent passwd "$PG_USER" | cut -d: -f6)
        [ -n "$home" ] && [ -d "$home" ] || home=/var/tmp
        PG_DATA="$home/carnet-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)/pg"
        say "the $PG_USER user cannot reach $ROOT/.carnet; keeping the private cluster in $PG_DATA"
    fi
}

# running_port: the port of the running private cluster, from postmaster.pid.
running_port() { sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null; }

cluster_running() {
    [ -f "$PG_DATA/postmaster.pid" ] || return 1
    run_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

init_cluster() {
    if [ -n "$PG_USER" ]; then
        mkdir -p "$PG_DATA"
        chown "$PG_USER:" "$PG_DATA"
    else
        mkdir -p "$PG_DATA"
    fi
    chmod 700 "$PG_DATA"
    say "initialising a private PostgreSQL cluster in $PG_DATA ($("$PG_BINDIR/pg_ctl" --version | sed 's/^[^0-9]*\([0-9.]*\).*/PostgreSQL \1/'), superuser postgres, trust auth)"
    run_pg "$PG_BINDIR/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale \
        >"$PG_DATA.initdb.log" 2>&1 || {
        cat "$PG_DATA.initdb.log" >&2
        die "initdb failed (log above)"
    }
    rm -f "$PG_DATA.initdb.log"
    # A development and test cluster: listen on loopback only, no Unix socket
    # (its directory may not be writable and its path may be too long), and
    # durability traded for speed (tests create a database each).
    run_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<'EOF'

# Carnet private development cluster (deploy/local.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

start_private_cluster() {
    local want="" port
    ensure_pg_user
    choose_pg_data
    [ -f "$PG_DATA/PG_VERSION" ] && want=$(cat "$PG_DATA/PG_VERSION")
    PG_BINDIR=$(pg_server_bindir "$want") ||
        die "$PG_DATA holds a PostgreSQL $want cluster but only other versions' binaries are installed; remove $PG_DATA to start afresh"
    if [ -z "$want" ]; then
        if [ -d "$PG_DATA" ] && [ -n "$(ls -A "$PG_DATA" 2>/dev/null)" ]; then
            die "$PG_DATA exists but is not a PostgreSQL cluster; remove it to start afresh"
        fi
        init_cluster
    fi
    if cluster_running; then
        port=$(running_port)
        say "the private cluster in $PG_DATA is already running on 127.0.0.1:$port"
    else
        port=$PG_PORT
        say "starting the private cluster in $PG_DATA on 127.0.0.1:$port"
        run_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w -t 60 \
            -o "-p $port" start >/dev/null || {
            tail -n 20 "$PG_DATA/server.log" >&2 || true
            die "the private cluster did not start (log: $PG_DATA/server.log); is port $port taken? set CARNET_PG_PORT"
        }
    fi
    DATABASE_URL="postgres://postgres@127.0.0.1:$port/$DB_NAME"
    server_answers "$DATABASE_URL" || die "the private cluster runs but does not answer on 127.0.0.1:$port (log: $PG_DATA/server.log)"
}

# ---------------------------------------------------------------------------
# Steps a-d

ensure_postgres() {
    # a. an explicit DATABASE_URL
    if [ -n "${DATABASE_URL:-}" ]; then
        if server_answers "$DATABASE_URL"; then
            say "using DATABASE_URL from the environment (its server answers)"
            export DATABASE_URL
            return 0
        fi
        say "DATABASE_URL is set but unusable: $(why_not "$DATABASE_URL"); looking for another server"
    fi
    local attempt
    for attempt in first after-install; do
        # b. the default local server
        if server_answers "$DEFAULT_URL"; then
            DATABASE_URL=$(plain_loopback "$(url_with_db "$DEFAULT_URL" "$DB_NAME")")
            say "PostgreSQL answers at $(url_with_db "$DEFAULT_URL" ''); using database $DB_NAME"
            case $DATABASE_URL in *sslmode=disable*) say "connecting without TLS (sslmode=disable): the server is on this machine" ;; esac
            export DATABASE_URL
            return 0
        fi
        [ "$attempt" = first ] && say "no usable PostgreSQL at $DEFAULT_URL: $(why_not "$DEFAULT_URL")"
        # c. the private cluster
        if pg_server_bindir >/dev/null; then
            start_private_cluster
            export DATABASE_URL
            return 0
        fi
        [ "$attempt" = first ] || break
        # d. no server binaries: install them, then try b and c again (a fresh
        # Debian package may have created and started its own cluster on 5432).
        say "no PostgreSQL server binaries found (looked at pg_config --bindir, /usr/lib/postgresql/*/bin, PATH)"
        pkg_install server
        hash -r
    done
    die "PostgreSQL was installed but neither the default server nor a private cluster could be started"
}

# The build links diesel against libpq.
ensure_libpq() {
    local libdir=""
    pkg-config --exists libpq 2>/dev/null && return 0
    ldconfig -p 2>/dev/null | grep -q 'libpq\.so ' && return 0
    if command -v pg_config >/dev/null 2>&1; then libdir=$(pg_config --libdir 2>/dev/null || true); fi
    ls /usr/lib/*/libpq.so /usr/lib/libpq.so /usr/lib64/libpq.so ${libdir:+"$libdir"/libpq.so "$libdir"/libpq.dylib} \
        /opt/homebrew/opt/libpq/lib/libpq.dylib /usr/local/opt/libpq/lib/libpq.dylib >/dev/null 2>&1 && return 0
    say "libpq (needed to build: diesel links against it) not found"
    pkg_install libpq
}

ensure_cargo() {
    command -v cargo >/dev/null 2>&1 && return 0
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
        return 0
    fi
    die "cargo not found; install Rust with rustup (see the Rust website), then open a new shell"
}

stop_db() {
    local want=""
    is_root && PG_USER=postgres
    choose_pg_data 2>/dev/null || true
    if [ ! -f "$PG_DATA/postmaster.pid" ]; then
        say "the private cluster in $PG_DATA is not running"
        return 0
    fi
    [ -f "$PG_DATA/PG_VERSION" ] && want=$(cat "$PG_DATA/PG_VERSION")
    PG_BINDIR=$(pg_server_bindir "$want") || die "no PostgreSQL $want binaries to stop $PG_DATA with"
    say "stopping the private cluster in $PG_DATA"
    run_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
}

main() {
    local cmd=${1:-}
    [ $# -gt 0 ] && shift
    case $cmd in
        serve)
            ensure_cargo
            ensure_libpq
            ensure_postgres
            cd "$ROOT"
            exec cargo run --release -p carnet -- serve "$@"
            ;;
        test)
            ensure_cargo
            ensure_libpq
            ensure_postgres
            cd "$ROOT"
            exec cargo test --workspace "$@"
            ;;
        db)
            ensure_postgres
            printf '%s\n' "$DATABASE_URL"
            ;;
        stop-db) stop_db ;;
        -h | --help | help) usage ;;
        *)
            usage
            [ -n "$cmd" ] && say "unknown command: $cmd"
            exit 2
            ;;
    esac
}

main "$@"
