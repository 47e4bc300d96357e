#!/usr/bin/env bash
# Runs a Tansu broker (Kafka protocol, Rust, sqlite storage) for the tests as a plain background
# process on 127.0.0.1.
#
#   ops/tansu.sh start|stop|status|restart|env
#   ops/tansu.sh create-topic NAME PARTITIONS     (idempotent: an existing topic is fine)
#   ops/tansu.sh list-topics
#
# State (sqlite file, log, pid) lives in $FLAMESTREAM_OPS_STATE/tansu
# (default: <repo>/.ops-state/tansu). `restart` keeps the sqlite file, so topics, messages and
# committed offsets survive it (the broker-restart fault tests rely on that); `reset` deletes it.
#
# Env:
#   FLAMESTREAM_TANSU_PORT                Kafka listener port (default 19092)
#   FLAMESTREAM_TANSU_START_TIMEOUT_SECS  readiness timeout (default 30)
#   FLAMESTREAM_TANSU_LOG                 RUST_LOG for the broker (default warn; info logs every request)
#   FLAMESTREAM_OPS_STATE                 state root (default <repo>/.ops-state)
#
# Install: `cargo install tansu --version 0.6.0 --locked --features dynostore,libsql`
# (ops/install-deps.sh does it; ~15 min once per machine).
set -euo pipefail
OPS_LOG_NAME=tansu
# shellcheck source=ops/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$CARGO_BIN:"*) ;; *) export PATH="$CARGO_BIN:$PATH" ;; esac

PORT="${FLAMESTREAM_TANSU_PORT:-19092}"
START_TIMEOUT="${FLAMESTREAM_TANSU_START_TIMEOUT_SECS:-30}"
STATE="$OPS_STATE_ROOT/tansu"
PIDFILE="$STATE/tansu.pid"
LOG_FILE="$STATE/tansu.log"
DB_FILE="$STATE/tansu.db"
BROKER_URL="tcp://127.0.0.1:$PORT"

need_tansu() {
    command -v tansu >/dev/null ||
        die "tansu not found: run ops/install-deps.sh (cargo install tansu --version 0.6.0 --locked --features dynostore,libsql, ~15 min)"
}

# tansu reads a `.env` from its working directory (dotenv) and resolves sqlite:// paths against
# it, so every tansu call runs inside the state dir: no stray .env is picked up, and the database
# is $STATE/tansu.db.
tansu_in_state() {
    (cd "$STATE" && tansu "$@")
}

broker_answers() {
    port_in_use "$PORT" && tansu_in_state topic list --broker "$BROKER_URL" >/dev/null 2>&1
}

cmd_start() {
    need_tansu
    ensure_state_root
    mkdir -p "$STATE"
    if pid_alive "$PIDFILE"; then
        if broker_answers; then
            log "already running (pid $(cat "$PIDFILE")) at $BROKER_URL"
            print_env
            return 0
        fi
        die "pid $(cat "$PIDFILE") is alive but $BROKER_URL does not answer: run ops/tansu.sh restart"
    fi
    rm -f "$PIDFILE"
    port_in_use "$PORT" &&
        die "port 127.0.0.1:$PORT is already taken by another process; set FLAMESTREAM_TANSU_PORT"
    local t0
    t0="$(now)"
    log "starting $(tansu --version 2>/dev/null | head -n1) on $BROKER_URL, storage $DB_FILE"
    # setsid: own process group, so a Ctrl-C in the calling shell does not kill the broker.
    (
        cd "$STATE"
        NO_COLOR=1 RUST_LOG="${FLAMESTREAM_TANSU_LOG:-warn}" exec setsid tansu broker \
            --listener-url "$BROKER_URL" \
            --advertised-listener-url "$BROKER_URL" \
            --storage-engine "sqlite://tansu.db" \
            </dev/null >>"$LOG_FILE" 2>&1 9>&-
    ) &
    echo $! >"$PIDFILE"
    wait_ready tansu "$PIDFILE" "$START_TIMEOUT" "$BROKER_URL" broker_answers "$LOG_FILE"
    log "ready in $(elapsed "$t0") (pid $(cat "$PIDFILE"))"
    print_env
}

cmd_stop() {
    stop_pid tansu "$PIDFILE" 10
}

storage() { echo "storage $DB_FILE"; }

cmd_status() {
    server_status "$PIDFILE" "$BROKER_URL" broker_answers storage
}

cmd_list_topics() {
    need_tansu
    mkdir -p "$STATE"
    tansu_in_state topic list --broker "$BROKER_URL"
}

# topic_exists NAME: `tansu topic list` prints the metadata as JSON ({"name":"...",...}).
topic_exists() {
    cmd_list_topics 2>/dev/null | grep -Fq -- "\"name\":\"$1\""
}

cmd_create_topic() {
    local name="${1:-}" partitions="${2:-}"
    [[ -n "$name" && "$partitions" =~ ^[0-9]+$ ]] || die "usage: $0 create-topic NAME PARTITIONS"
    need_tansu
    mkdir -p "$STATE"
    local out rc=0
    out="$(tansu_in_state topic create --broker "$BROKER_URL" --partitions "$partitions" "$name" 2>&1)" || rc=$?
    if ((rc == 0)); then
        log "topic \`$name\` created with $partitions partitions"
        return 0
    fi
    if grep -qiE 'TopicAlreadyExists|already exists' <<<"$out" || topic_exists "$name"; then
        log "topic \`$name\` already exists"
        return 0
    fi
    printf '%s\n' "$out" >&2
    die "could not create topic \`$name\` on $BROKER_URL (exit $rc)"
}

print_env() {
    printf 'FLAMESTREAM_TEST_KAFKA_BROKERS=127.0.0.1:%s\n' "$PORT"
}

case "${1:-}" in
create-topic)
    shift
    cmd_create_topic "$@"
    ;;
list-topics) cmd_list_topics ;;
*) server_command "start|stop|status|restart|reset|env|list-topics|create-topic NAME PARTITIONS" "${1:-}" ;;
esac
