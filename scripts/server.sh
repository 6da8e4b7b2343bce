#!/usr/bin/env bash
# A tracking server for many workers: PostgreSQL as MLflow's backend store and `mlflow server`
# in front of it, both kept in one folder of the checkout (.server/).
#   server.sh start    install PostgreSQL where missing, initialise, start both; prints the
#                      `export MLFLOW_TRACKING_URI=...` line for the workers
#   server.sh stop     stop both
#   server.sh status   whether each runs (exit status 0 when both do, 3 otherwise)
# Settings (environment): SERVER_DIR (.server), SERVER_HOST (127.0.0.1: the address mlflow server
# binds; workers on other machines need one they can reach), SERVER_PORT (5000), SERVER_PG_PORT
# (5433, beside a system PostgreSQL's 5432), SERVER_WORKERS (4), SERVER_ARTIFACTS
# (SERVER_DIR/artifacts), SERVER_ALLOWED_HOSTS (mlflow server --allowed-hosts),
# SERVER_START_TIMEOUT (120 s).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# Resolved before the cd below, so that a relative SERVER_DIR means the caller's folder.
SERVER_DIR="$(realpath -m "${SERVER_DIR:-$ROOT/.server}")"
ARTIFACTS="${SERVER_ARTIFACTS:-$SERVER_DIR/artifacts}"
[[ "$ARTIFACTS" == *://* ]] || ARTIFACTS="$(realpath -m "$ARTIFACTS")"
cd "$ROOT"

HOST="${SERVER_HOST:-127.0.0.1}"
PORT="${SERVER_PORT:-5000}"
PG_PORT="${SERVER_PG_PORT:-5433}"
WORKERS="${SERVER_WORKERS:-4}"
START_TIMEOUT="${SERVER_START_TIMEOUT:-120}"
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3

DATA="$SERVER_DIR/postgres"      # the PostgreSQL cluster
PG_LOG="$SERVER_DIR/postgres.log"
PGPASS="$SERVER_DIR/pgpass"      # the password of role mlflow, for libpq (psql, MLflow's driver)
PIDFILE="$SERVER_DIR/mlflow.pid"
URLFILE="$SERVER_DIR/mlflow.url"
LOG="$SERVER_DIR/mlflow.log"
# Clients connect to the bound address; to this machine's loopback when it binds every address.
case "$HOST" in 0.0.0.0|::) CLIENT_HOST=127.0.0.1 ;; *) CLIENT_HOST="$HOST" ;; esac
URL="http://$CLIENT_HOST:$PORT"
[[ "$CLIENT_HOST" == *:* ]] && URL="http://[$CLIENT_HOST]:$PORT"

say() { echo "server: $*" >&2; }

# What start undoes when it fails, so that a failed start leaves nothing running.
STARTED_PG=0
STARTED_MLFLOW=0
undo() {
    if [ "$STARTED_MLFLOW" -eq 1 ]; then stop_mlflow; fi
    if [ "$STARTED_PG" -eq 1 ]; then stop_pg; fi
}
die() { say "error: $*"; DIED=1; exit 1; }
on_exit() {
    local code=$?
    [ "$code" -eq 0 ] && return
    [ "$DIED" -eq 1 ] || say "error: stopped by a failing command (exit status $code); logs in $SERVER_DIR"
    undo
}
DIED=0

# PostgreSQL refuses to run as root: as root, its programs run as the postgres system user.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")  # cd: the checkout may be closed to postgres
    else
        "$@"
    fi
}

# PG_BIN: the folder of initdb and pg_ctl (Debian keeps them off PATH, under /usr/lib/postgresql).
find_pg() {
    PG_BIN=""
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        PG_BIN="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
    else
        for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
            if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then PG_BIN="$dir"; break; fi
        done
    fi
    [ -n "$PG_BIN" ]
}

install_pg() {
    command -v apt-get >/dev/null 2>&1 \
        || die "PostgreSQL (initdb, pg_ctl) not found and no apt-get: install PostgreSQL 15 or put its bin on PATH"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    say "installing PostgreSQL with apt-get"
    # As in setup.sh: another apt-get may hold its locks; wait for it.
    wait_lock=(-o DPkg::Lock::Timeout=600)
    for attempt in 1 2 3 4 5 6; do
        $SUDO apt-get "${wait_lock[@]}" update -qq && break
        [ "$attempt" -eq 6 ] && die "apt-get update failed"
        say "apt-get update failed (another apt-get running?); trying again in 20 s"; sleep 20
    done
    package=postgresql-15
    apt-cache show "$package" >/dev/null 2>&1 || package=postgresql  # the distribution's version
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${wait_lock[@]}" install -y -qq "$package" >/dev/null \
        || die "apt-get install $package failed"
    find_pg || die "apt-get installed $package, but initdb and pg_ctl are still not found"
}

pg_running() { [ -f "$DATA/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1; }

# The port a running cluster listens on (postmaster.pid's 4th line), which may not be today's SERVER_PG_PORT.
pg_port() { sed -n 4p "$DATA/postmaster.pid"; }

port_in_use() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

psql_mlflow() {
    PGPASSFILE="$PGPASS" "$PSQL" -X -q -t -A -h 127.0.0.1 -p "$(pg_port)" -U mlflow -d postgres "$@"
}

init_pg() {
    if [ -d "$DATA" ] && [ -n "$(ls -A "$DATA")" ]; then
        die "$DATA exists but holds no PostgreSQL cluster; remove it or choose another SERVER_DIR"
    fi
    say "initialising a PostgreSQL cluster in $DATA"
    password="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    (umask 077; printf '127.0.0.1:*:*:mlflow:%s\n' "$password" > "$PGPASS")
    pwfile="$SERVER_DIR/postgres.password"
    (umask 077; printf '%s\n' "$password" > "$pwfile")
    install -d -m 700 "$DATA"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$DATA" "$pwfile"
        if ! runuser -u postgres -- test -x "$DATA"; then
            rm -f "$pwfile"; rmdir "$DATA"
            die "the postgres user cannot enter $SERVER_DIR (a parent folder is private); choose another SERVER_DIR"
        fi
    fi
    # One role, mlflow, with a password (scram-sha-256): the cluster holds only MLflow's database,
    # and other users of this machine cannot connect without the password file.
    if ! out="$(as_pg "$PG_BIN/initdb" -D "$DATA" -U mlflow --pwfile="$pwfile" --auth=scram-sha-256 \
                -E UTF8 --no-locale 2>&1)"; then
        rm -f "$pwfile"
        echo "$out" >&2
        die "initdb failed (its output above)"
    fi
    rm -f "$pwfile"
}

start_pg() {
    [ -f "$DATA/PG_VERSION" ] || init_pg
    [ -f "$PGPASS" ] || die "no $PGPASS for the cluster in $DATA; remove $DATA to start afresh"
    port_in_use 127.0.0.1 "$PG_PORT" && die "port $PG_PORT is in use (set SERVER_PG_PORT)"
    touch "$PG_LOG"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PG_LOG"; fi
    # TCP on 127.0.0.1 only (mlflow server is its only client) and no Unix socket, whose path
    # would depend on where the checkout is.
    STARTED_PG=1
    as_pg "$PG_BIN/pg_ctl" start -D "$DATA" -l "$PG_LOG" -w -t 60 \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" >/dev/null \
        || die "PostgreSQL did not start (log: $PG_LOG)"
}

stop_pg() {
    if pg_running; then
        as_pg "$PG_BIN/pg_ctl" stop -D "$DATA" -m fast -w -t 60 >/dev/null
    fi
}

# mlflow server runs in its own session and process group (setsid), with its web server's
# workers: stop kills the group. Its pid is the group's and the session's id.
# A member that exited but is not yet reaped (a zombie) does not count.
group_alive() { ps -o stat= --sid "$1" 2>/dev/null | grep -qv '^Z'; }
mlflow_running() {
    [ -f "$PIDFILE" ] && group_alive "$(cat "$PIDFILE")"
}

stop_mlflow() {
    if mlflow_running; then
        pgid="$(cat "$PIDFILE")"
        kill -TERM -- "-$pgid" 2>/dev/null || true
        for _ in $(seq 100); do
            group_alive "$pgid" || break
            sleep 0.3
        done
        kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE" "$URLFILE"
}

answers() {
    "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1/health" 2>/dev/null
}

start() {
    trap on_exit EXIT
    if ! find_pg; then install_pg; fi
    PSQL="$PG_BIN/psql"
    [ -x "$PSQL" ] || PSQL="$(command -v psql)" || die "psql not found beside $PG_BIN/pg_ctl nor on PATH"
    if [ "$(id -u)" -eq 0 ] && ! id -u postgres >/dev/null 2>&1; then
        die "PostgreSQL refuses to run as root, and there is no postgres user to run it as"
    fi
    "$PY" -c 'import psycopg2' 2>/dev/null \
        || die "$PY cannot import psycopg2 (MLflow's PostgreSQL driver): run make setup"
    mkdir -p "$SERVER_DIR"

    if ! pg_running; then start_pg; fi
    if [ -z "$(psql_mlflow -c "SELECT 1 FROM pg_database WHERE datname = 'mlflow'")" ]; then
        psql_mlflow -c "CREATE DATABASE mlflow" || die "could not create database mlflow (log: $PG_LOG)"
    fi

    if mlflow_running; then
        say "already running: PostgreSQL on 127.0.0.1:$(pg_port), mlflow server at $(cat "$URLFILE")"
        echo "export MLFLOW_TRACKING_URI=$(cat "$URLFILE")"
        return
    fi
    rm -f "$PIDFILE"
    port_in_use "$CLIENT_HOST" "$PORT" && die "port $PORT is in use (set SERVER_PORT)"
    if [[ "$ARTIFACTS" != *://* ]]; then mkdir -p "$ARTIFACTS"; fi
    # Artifacts go through the server (--serve-artifacts, mlflow-artifacts:/ URIs), not to a path
    # each worker writes itself: workers then need only the server's address, no shared
    # filesystem. SERVER_ARTIFACTS can put them on a shared disk or an object store (s3://...).
    args=(server --host "$HOST" --port "$PORT" --workers "$WORKERS"
          --backend-store-uri "postgresql+psycopg2://mlflow@127.0.0.1:$(pg_port)/mlflow"
          --serve-artifacts --artifacts-destination "$ARTIFACTS")
    if [ -n "${SERVER_ALLOWED_HOSTS:-}" ]; then args+=(--allowed-hosts "$SERVER_ALLOWED_HOSTS"); fi
    say "starting mlflow server on $HOST:$PORT (log: $LOG)"
    # +psycopg2: SQLAlchemy 2.1's default PostgreSQL driver is psycopg 3, which is not installed.
    # The password reaches MLflow's driver through PGPASSFILE, never on a command line.
    # No job execution (MLflow's GenAI jobs, which the suite never submits): it would start 8 more
    # processes (about 1 GB); export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true to have them.
    PGPASSFILE="$PGPASS" MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}" \
        setsid "$PY" -m mlflow "${args[@]}" >>"$LOG" 2>&1 </dev/null &
    echo $! > "$PIDFILE"
    echo "$URL" > "$URLFILE"
    STARTED_MLFLOW=1
    deadline=$(( $(date +%s) + START_TIMEOUT ))
    until answers "$URL"; do
        mlflow_running || die "mlflow server exited before answering (log: $LOG)"
        [ "$(date +%s)" -lt "$deadline" ] || die "mlflow server did not answer on $URL in $START_TIMEOUT s (log: $LOG)"
        sleep 1
    done
    echo "export MLFLOW_TRACKING_URI=$URL"
}

stop() {
    stop_mlflow
    if find_pg && pg_running; then
        stop_pg
    fi
    say "stopped"
}

status() {
    local code=0
    if find_pg && pg_running; then
        echo "postgres: running on 127.0.0.1:$(pg_port) ($DATA)"
    else
        echo "postgres: stopped"; code=3
    fi
    if mlflow_running; then
        echo "mlflow server: running at $(cat "$URLFILE") (pid $(cat "$PIDFILE"))"
    else
        echo "mlflow server: stopped"; code=3
    fi
    return "$code"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
