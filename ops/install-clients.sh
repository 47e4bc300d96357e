#!/usr/bin/env bash
# Installs the real profiling clients used by the end-to-end client tests. Idempotent.
#
#   ops/install-clients.sh
#
#   - Go (Debian golang-go, 1.19): builds the Go sender and net/http/pprof programs.
#   - github.com/google/pprof/profile (Debian golang-github-google-pprof-dev): the Go parser
#     benches/compare-go-pprof.sh times ours against (GOPATH=/usr/share/gocode).
#   - pyroscope-io (PyPI): the Python SDK (Push API).
#   - @pyroscope/nodejs (npm): the Node.js SDK, installed into ops/.clients/node
#     (require it with NODE_PATH=ops/.clients/node/node_modules).
#
# Env: FLAMESTREAM_PYROSCOPE_IO_VERSION (default 1.4.0),
#      FLAMESTREAM_PYROSCOPE_NODEJS_VERSION (default 0.6.4).
set -euo pipefail
OPS_LOG_NAME=install-clients
# shellcheck source=ops/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY_VERSION="${FLAMESTREAM_PYROSCOPE_IO_VERSION:-1.4.0}"
NODE_VERSION="${FLAMESTREAM_PYROSCOPE_NODEJS_VERSION:-0.6.4}"
NODE_DIR="$OPS_DIR/.clients/node"

SUDO=()
[[ "$(id -u)" -eq 0 ]] || SUDO=(sudo)
T_ALL="$(now)"

# ---------------------------------------------------------------- Go
GO_PPROF_DIR=/usr/share/gocode/src/github.com/google/pprof/profile
if command -v go >/dev/null && [[ -d "$GO_PPROF_DIR" ]]; then
    log "go: $(go version) and github.com/google/pprof already installed"
else
    t0="$(now)"
    log "go: apt-get install golang-go golang-github-google-pprof-dev"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Use-Pty=0 golang-go golang-github-google-pprof-dev >/dev/null
    log "go: $(go version) installed in $(elapsed "$t0")"
fi

# ---------------------------------------------------------------- Python SDK
if python3 -c 'import pyroscope' 2>/dev/null; then
    log "pyroscope-io: already installed"
else
    t0="$(now)"
    log "pyroscope-io: pip install pyroscope-io==$PY_VERSION"
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
        "pyroscope-io==$PY_VERSION"
    python3 -c 'import pyroscope' || die "pyroscope-io installed but \`import pyroscope\` fails"
    log "pyroscope-io: installed in $(elapsed "$t0")"
fi

# ---------------------------------------------------------------- Node SDK
command -v npm >/dev/null || die "npm not found: the Node.js SDK is installed with npm"
if [[ -f "$NODE_DIR/node_modules/@pyroscope/nodejs/package.json" ]]; then
    log "@pyroscope/nodejs: already installed in $NODE_DIR"
else
    t0="$(now)"
    mkdir -p "$NODE_DIR"
    # Generated directory: keep it out of git without touching the top-level .gitignore.
    printf '*\n' >"$OPS_DIR/.clients/.gitignore"
    [[ -f "$NODE_DIR/package.json" ]] ||
        printf '{\n  "name": "flamestream-test-clients",\n  "private": true\n}\n' >"$NODE_DIR/package.json"
    log "@pyroscope/nodejs: npm install @pyroscope/nodejs@$NODE_VERSION into $NODE_DIR"
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --loglevel=error "@pyroscope/nodejs@$NODE_VERSION")
    node -e "require('$NODE_DIR/node_modules/@pyroscope/nodejs')" ||
        die "@pyroscope/nodejs installed but require() fails"
    log "@pyroscope/nodejs: installed in $(elapsed "$t0")"
fi

log "clients present ($(elapsed "$T_ALL")); NODE_PATH=$NODE_DIR/node_modules"
