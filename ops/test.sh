#!/usr/bin/env bash
# The project's one test command (CI runs it through .ci/run):
#
#   ops/test.sh [ARGS FOR cargo test...]      e.g. ops/test.sh -p flamestream-model
#
# 1. installs what the tests need (ops/install-deps.sh --clients; quick when already done)
# 2. starts Tansu (Kafka protocol), ClickHouse 18.16 and ClickHouse 26.9 (chDB behind
#    ops/clickhouse-modern.sh) on 127.0.0.1 and creates the raw topic
# 3. cargo fmt --check, cargo clippy -D warnings, cargo test (extra ARGS go to cargo test;
#    -p/--package ARGS also narrow clippy)
# 4. checks the deployment files (ops/check-configs.sh) and validates every pipelines/*.toml
#    with `flamestream validate`
# 5. stops the servers it started (keep them with FLAMESTREAM_KEEP_SERVERS=1); servers that were
#    already running are used as they are and left running
#
# Every step runs even after an earlier one failed; the summary at the end lists each step's
# result and time, and the exit status is non-zero when any step failed.
#
# Env:
#   FLAMESTREAM_KEEP_SERVERS=1     leave Tansu and both ClickHouses running afterwards
#   FLAMESTREAM_SKIP_INSTALL=1     do not run the install scripts
#   FLAMESTREAM_SKIP_CLIENTS=1     do not install the real SDK clients (Go, Python, Node)
#   FLAMESTREAM_TEST_KEEP_STATE=1  keep the servers' data from earlier runs (default: a server that
#                                  this run starts begins empty; a running one is used as it is)
#   FLAMESTREAM_TANSU_PORT, FLAMESTREAM_CLICKHOUSE_HTTP_PORT, FLAMESTREAM_CLICKHOUSE_TCP_PORT,
#   FLAMESTREAM_CLICKHOUSE_MODERN_HTTP_PORT,
#   FLAMESTREAM_OPS_STATE          see ops/tansu.sh, ops/clickhouse.sh, ops/clickhouse-modern.sh
#
# Exported to the tests:
#   FLAMESTREAM_TEST_KAFKA_BROKERS=127.0.0.1:19092
#   FLAMESTREAM_TEST_CLICKHOUSE_URL=http://127.0.0.1:18123
#   FLAMESTREAM_TEST_CLICKHOUSE_MODERN_URL=http://127.0.0.1:18124
#   FLAMESTREAM_TEST_KAFKA_TOPIC=flamestream.profiles.raw (6 partitions, created here)
#   FLAMESTREAM_TEST_NODE_PATH=<repo>/ops/.clients/node/node_modules
#   FLAMESTREAM_TEST_OPS_DIR=<repo>/ops (fault tests run "$FLAMESTREAM_TEST_OPS_DIR/tansu.sh restart")
set -euo pipefail
OPS_LOG_NAME="test"
# shellcheck source=ops/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$CARGO_BIN:"*) ;; *) export PATH="$CARGO_BIN:$PATH" ;; esac
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

RAW_TOPIC="flamestream.profiles.raw"
RAW_TOPIC_PARTITIONS=6

declare -a SUMMARY=()
FAILED=0
T_ALL="$(now)"

# step NAME CMD...: runs one step, records its result and time, never exits.
step() {
    local name="$1" t0 rc=0
    shift
    t0="$(now)"
    printf '\n[test] ===== %s =====\n' "$name" >&2
    "$@" || rc=$?
    if ((rc == 0)); then
        SUMMARY+=("ok    $(elapsed "$t0")  $name")
    else
        SUMMARY+=("FAIL  $(elapsed "$t0")  $name (exit $rc)")
        FAILED=1
    fi
    return 0
}

print_summary() {
    printf '\n[test] ===== summary (%s) =====\n' "$(elapsed "$T_ALL")" >&2
    local line
    for line in "${SUMMARY[@]}"; do
        printf '[test] %s\n' "$line" >&2
    done
}

# One ops/test.sh at a time per state dir: two runs would share (and stop) each other's servers.
ensure_state_root
exec 9>"$OPS_STATE_ROOT/test.lock"
if ! flock -n 9; then
    log "another ops/test.sh is running with state $OPS_STATE_ROOT: waiting for it to finish"
    flock 9
fi

STARTED_TANSU=0
STARTED_CLICKHOUSE=0
STARTED_CLICKHOUSE_MODERN=0
cleanup() {
    local rc=$?
    if [[ "${FLAMESTREAM_KEEP_SERVERS:-0}" == 1 ]]; then
        log "FLAMESTREAM_KEEP_SERVERS=1: leaving servers running (ops/tansu.sh stop; ops/clickhouse.sh stop; ops/clickhouse-modern.sh stop)"
    else
        ((STARTED_TANSU)) && { "$OPS_DIR/tansu.sh" stop || true; }
        ((STARTED_CLICKHOUSE)) && { "$OPS_DIR/clickhouse.sh" stop || true; }
        ((STARTED_CLICKHOUSE_MODERN)) && { "$OPS_DIR/clickhouse-modern.sh" stop || true; }
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- 1. install
if [[ "${FLAMESTREAM_SKIP_INSTALL:-0}" != 1 ]]; then
    install_args=()
    [[ "${FLAMESTREAM_SKIP_CLIENTS:-0}" == 1 ]] || install_args+=(--clients)
    # Without these the servers cannot start: stop here rather than fail every test.
    step "install dependencies" "$OPS_DIR/install-deps.sh" "${install_args[@]}"
    if ((FAILED)); then
        print_summary
        die "installing dependencies failed; nothing else was run"
    fi
fi

# ---------------------------------------------------------------- 2. servers
# A server this run starts begins from empty state (so a local run sees what CI sees), unless
# FLAMESTREAM_TEST_KEEP_STATE=1. A server that is already running is used as it is.
start_tansu() {
    if ! pid_alive "$OPS_STATE_ROOT/tansu/tansu.pid"; then
        STARTED_TANSU=1
        [[ "${FLAMESTREAM_TEST_KEEP_STATE:-0}" == 1 ]] || "$OPS_DIR/tansu.sh" reset
    fi
    "$OPS_DIR/tansu.sh" start >/dev/null &&
        "$OPS_DIR/tansu.sh" create-topic "$RAW_TOPIC" "$RAW_TOPIC_PARTITIONS"
}
start_clickhouse() {
    if ! pid_alive "$OPS_STATE_ROOT/clickhouse/clickhouse.pid"; then
        STARTED_CLICKHOUSE=1
        [[ "${FLAMESTREAM_TEST_KEEP_STATE:-0}" == 1 ]] || "$OPS_DIR/clickhouse.sh" reset
    fi
    "$OPS_DIR/clickhouse.sh" start >/dev/null
}
start_clickhouse_modern() {
    if ! pid_alive "$OPS_STATE_ROOT/clickhouse-modern/server.pid"; then
        STARTED_CLICKHOUSE_MODERN=1
        [[ "${FLAMESTREAM_TEST_KEEP_STATE:-0}" == 1 ]] || "$OPS_DIR/clickhouse-modern.sh" reset
    fi
    "$OPS_DIR/clickhouse-modern.sh" start >/dev/null
}
step "start tansu (kafka)" start_tansu
step "start clickhouse" start_clickhouse
step "start clickhouse 26.9 (chdb)" start_clickhouse_modern
if ((FAILED)); then
    print_summary
    die "a test server did not start; the end-to-end tests cannot run"
fi

export FLAMESTREAM_TEST_KAFKA_BROKERS="127.0.0.1:${FLAMESTREAM_TANSU_PORT:-19092}"
export FLAMESTREAM_TEST_CLICKHOUSE_URL="http://127.0.0.1:${FLAMESTREAM_CLICKHOUSE_HTTP_PORT:-18123}"
export FLAMESTREAM_TEST_CLICKHOUSE_MODERN_URL="http://127.0.0.1:${FLAMESTREAM_CLICKHOUSE_MODERN_HTTP_PORT:-18124}"
export FLAMESTREAM_TEST_KAFKA_TOPIC="$RAW_TOPIC"
export FLAMESTREAM_TEST_NODE_PATH="$OPS_DIR/.clients/node/node_modules"
export FLAMESTREAM_TEST_OPS_DIR="$OPS_DIR"
log "FLAMESTREAM_TEST_KAFKA_BROKERS=$FLAMESTREAM_TEST_KAFKA_BROKERS"
log "FLAMESTREAM_TEST_CLICKHOUSE_URL=$FLAMESTREAM_TEST_CLICKHOUSE_URL"
log "FLAMESTREAM_TEST_CLICKHOUSE_MODERN_URL=$FLAMESTREAM_TEST_CLICKHOUSE_MODERN_URL"

# ---------------------------------------------------------------- 3. cargo
# -p/--package arguments narrow clippy too; everything else is only for cargo test.
clippy_scope=(--workspace)
test_scope=(--workspace)
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
    --) break ;;
    -p | --package)
        ((${#clippy_scope[@]} == 1)) && [[ "${clippy_scope[0]}" == --workspace ]] && clippy_scope=()
        clippy_scope+=("${args[i]}" "${args[i + 1]:-}")
        test_scope=()
        i=$((i + 1))
        ;;
    -p* | --package=*)
        ((${#clippy_scope[@]} == 1)) && [[ "${clippy_scope[0]}" == --workspace ]] && clippy_scope=()
        clippy_scope+=("${args[i]}")
        test_scope=()
        ;;
    esac
done

step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy -D warnings" cargo clippy "${clippy_scope[@]}" --all-targets -- -D warnings
step "cargo test" cargo test "${test_scope[@]}" "$@"

# ---------------------------------------------------------------- 4. deployment files
step "check deployment files" "$OPS_DIR/check-configs.sh"

validate_pipelines() {
    shopt -s nullglob
    local files=(pipelines/*.toml) f bad=0
    if ((${#files[@]} == 0)); then
        log "no pipelines/*.toml to validate"
        return 0
    fi
    cargo build -q -p flamestream || return 1
    for f in "${files[@]}"; do
        if target/debug/flamestream validate "$f"; then
            log "valid: $f"
        else
            log "INVALID: $f"
            bad=1
        fi
    done
    return "$bad"
}
step "flamestream validate pipelines/*.toml" validate_pipelines

# ---------------------------------------------------------------- result
print_summary
if ((FAILED)); then
    die "some steps failed"
fi
log "all steps passed"
