#!/usr/bin/env bash
# Runs a throwaway ClickHouse server for the tests as a plain background process on 127.0.0.1.
#
#   ops/clickhouse.sh start|stop|status|restart|reset|env
#
# State (config, data, logs, pid) lives in $FLAMESTREAM_OPS_STATE/clickhouse
# (default: <repo>/.ops-state/clickhouse). `restart` keeps the data; `reset` stops the server and
# deletes the state.
#
# Env:
#   FLAMESTREAM_CLICKHOUSE_HTTP_PORT   HTTP port (default 18123)
#   FLAMESTREAM_CLICKHOUSE_TCP_PORT    native TCP port (default 19000)
#   FLAMESTREAM_CLICKHOUSE_START_TIMEOUT_SECS  readiness timeout (default 60)
#   FLAMESTREAM_OPS_STATE              state root (default <repo>/.ops-state)
#
# Debian bookworm ships clickhouse-server 18.16 (apt-get install clickhouse-server
# clickhouse-client). It runs fine as root when started by hand with its own config file; when the
# server refuses root (newer builds do) set FLAMESTREAM_CLICKHOUSE_RUN_AS=clickhouse and the script
# starts it through `setpriv` as that user with the state dir chowned to it.
set -euo pipefail
OPS_LOG_NAME=clickhouse
# shellcheck source=ops/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HTTP_PORT="${FLAMESTREAM_CLICKHOUSE_HTTP_PORT:-18123}"
TCP_PORT="${FLAMESTREAM_CLICKHOUSE_TCP_PORT:-19000}"
START_TIMEOUT="${FLAMESTREAM_CLICKHOUSE_START_TIMEOUT_SECS:-60}"
RUN_AS="${FLAMESTREAM_CLICKHOUSE_RUN_AS:-}"
STATE="$OPS_STATE_ROOT/clickhouse"
PIDFILE="$STATE/clickhouse.pid"
LOG_DIR="$STATE/log"
SERVER_LOG="$LOG_DIR/clickhouse-server.log"
ERR_LOG="$LOG_DIR/clickhouse-server.err.log"
STDOUT_LOG="$LOG_DIR/stdout.log"
URL="http://127.0.0.1:$HTTP_PORT"

ping_ok() {
    [[ "$(curl -fsS --max-time 2 "$URL/ping" 2>/dev/null || true)" == "Ok." ]]
}

write_config() {
    mkdir -p "$STATE/data" "$STATE/tmp" "$STATE/user_files" "$STATE/format_schemas" "$LOG_DIR"
    cat >"$STATE/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Written by ops/clickhouse.sh; regenerated on every start. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$SERVER_LOG</log>
        <errorlog>$ERR_LOG</errorlog>
        <size>50M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$HTTP_PORT</http_port>
    <tcp_port>$TCP_PORT</tcp_port>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$STATE/data/</path>
    <tmp_path>$STATE/tmp/</tmp_path>
    <user_files_path>$STATE/user_files/</user_files_path>
    <format_schema_path>$STATE/format_schemas/</format_schema_path>
    <users_config>$STATE/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
EOF
    cat >"$STATE/users.xml" <<'EOF'
<?xml version="1.0"?>
<!-- Written by ops/clickhouse.sh: one `default` user, no password, full access, loopback only. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
        <readonly>
            <readonly>1</readonly>
        </readonly>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

cmd_start() {
    command -v clickhouse-server >/dev/null ||
        die "clickhouse-server not found: run ops/install-deps.sh (apt-get install clickhouse-server clickhouse-client)"
    ensure_state_root
    if pid_alive "$PIDFILE"; then
        if ping_ok; then
            log "already running (pid $(cat "$PIDFILE")) at $URL"
            print_env
            return 0
        fi
        die "pid $(cat "$PIDFILE") is alive but $URL/ping does not answer: run ops/clickhouse.sh restart"
    fi
    rm -f "$PIDFILE"
    for port in "$HTTP_PORT" "$TCP_PORT"; do
        port_in_use "$port" &&
            die "port 127.0.0.1:$port is already taken by another process; set FLAMESTREAM_CLICKHOUSE_HTTP_PORT / FLAMESTREAM_CLICKHOUSE_TCP_PORT"
    done
    write_config
    local -a launcher=()
    if [[ -n "$RUN_AS" ]]; then
        chown -R "$RUN_AS:" "$STATE"
        launcher=(setpriv "--reuid=$RUN_AS" "--regid=$RUN_AS" --init-groups --)
    fi
    local t0
    t0="$(now)"
    log "starting clickhouse-server on $URL (tcp $TCP_PORT), state $STATE"
    # setsid: own process group, so a Ctrl-C in the calling shell does not kill the server.
    setsid "${launcher[@]}" clickhouse-server --config-file="$STATE/config.xml" \
        </dev/null >>"$STDOUT_LOG" 2>&1 9>&- &
    echo $! >"$PIDFILE"
    wait_ready clickhouse-server "$PIDFILE" "$START_TIMEOUT" "$URL/ping" ping_ok \
        "$STDOUT_LOG" "$ERR_LOG"
    log "ready in $(elapsed "$t0") (pid $(cat "$PIDFILE"))"
    print_env
}

cmd_stop() {
    stop_pid clickhouse-server "$PIDFILE" 15
}

version() {
    echo "version $(curl -fsS --max-time 2 "$URL/?query=SELECT%20version()" || echo '?')"
}

cmd_status() {
    server_status "$PIDFILE" "$URL" ping_ok version
}

print_env() {
    printf 'FLAMESTREAM_TEST_CLICKHOUSE_URL=%s\n' "$URL"
}

server_command "start|stop|status|restart|reset|env" "${1:-}"
