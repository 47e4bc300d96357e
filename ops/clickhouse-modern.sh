#!/usr/bin/env bash
# Runs ClickHouse 26.9 for the tests of the store's modern dialect (LowCardinality, CODEC, TTL):
# chDB, the ClickHouse engine in-process (PyPI chdb-core, installed by ops/install-deps.sh), behind
# ClickHouse's HTTP interface (ops/clickhouse-modern-http.py) on 127.0.0.1. Debian has no
# clickhouse-server newer than 18.16, which ops/clickhouse.sh runs for the shared subset.
#
#   ops/clickhouse-modern.sh start|stop|status|restart|reset|env
#
# State (chDB data, log, pid) lives in $FLAMESTREAM_OPS_STATE/clickhouse-modern
# (default: <repo>/.ops-state/clickhouse-modern). `reset` stops it and deletes the state.
#
# Env:
#   FLAMESTREAM_CLICKHOUSE_MODERN_HTTP_PORT   HTTP port (default 18124)
#   FLAMESTREAM_CLICKHOUSE_START_TIMEOUT_SECS readiness timeout (default 60)
#   FLAMESTREAM_OPS_STATE                     state root (default <repo>/.ops-state)
set -euo pipefail
OPS_LOG_NAME=clickhouse-modern
# shellcheck source=ops/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HTTP_PORT="${FLAMESTREAM_CLICKHOUSE_MODERN_HTTP_PORT:-18124}"
START_TIMEOUT="${FLAMESTREAM_CLICKHOUSE_START_TIMEOUT_SECS:-60}"
STATE="$OPS_STATE_ROOT/clickhouse-modern"
PIDFILE="$STATE/server.pid"
LOG="$STATE/server.log"
URL="http://127.0.0.1:$HTTP_PORT"

ping_ok() {
    [[ "$(curl -fsS --max-time 2 "$URL/ping" 2>/dev/null || true)" == "Ok." ]]
}

cmd_start() {
    python3 -c 'import chdb' 2>/dev/null ||
        die "chDB is not installed for python3: run ops/install-deps.sh (pip install chdb-core)"
    ensure_state_root
    if pid_alive "$PIDFILE"; then
        if ping_ok; then
            log "already running (pid $(cat "$PIDFILE")) at $URL"
            print_env
            return 0
        fi
        die "pid $(cat "$PIDFILE") is alive but $URL/ping does not answer: run ops/clickhouse-modern.sh restart"
    fi
    rm -f "$PIDFILE"
    port_in_use "$HTTP_PORT" &&
        die "port 127.0.0.1:$HTTP_PORT is already taken by another process; set FLAMESTREAM_CLICKHOUSE_MODERN_HTTP_PORT"
    mkdir -p "$STATE/data"
    local t0
    t0="$(now)"
    log "starting ClickHouse (chDB) on $URL, state $STATE"
    # setsid: own process group, so a Ctrl-C in the calling shell does not stop it.
    setsid python3 "$OPS_DIR/clickhouse-modern-http.py" --port "$HTTP_PORT" --path "$STATE/data" \
        </dev/null >>"$LOG" 2>&1 9>&- &
    echo $! >"$PIDFILE"
    wait_ready clickhouse-modern-http "$PIDFILE" "$START_TIMEOUT" "$URL/ping" ping_ok "$LOG"
    log "ready in $(elapsed "$t0") (pid $(cat "$PIDFILE")): $(tail -n 1 "$LOG")"
    print_env
}

cmd_stop() {
    stop_pid clickhouse-modern-http "$PIDFILE" 10
}

version() {
    echo "version $(curl -fsS --max-time 5 "$URL/?query=SELECT%20version()" || echo '?')"
}

cmd_status() {
    server_status "$PIDFILE" "$URL" ping_ok version
}

print_env() {
    printf 'FLAMESTREAM_TEST_CLICKHOUSE_MODERN_URL=%s\n' "$URL"
}

server_command "start|stop|status|restart|reset|env" "${1:-}"
