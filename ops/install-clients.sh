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
#   - Chromium (Debian chromium) and playwright-core (npm, into ops/.clients/node, no browser
#     download): the web page's test drives the real browser headless.
#
# Env: FLAMESTREAM_PYROSCOPE_IO_VERSION (default 1.4.0),
#      FLAMESTREAM_PYROSCOPE_NODEJS_VERSION (default 0.6.4),
#      FLAMESTREAM_PLAYWRIGHT_VERSION (default 1.65.1).
set -euo pipefail
OPS_LOG_NAME=install-clients
# shellcheck source=ops/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY_VERSION="${FLAMESTREAM_PYROSCOPE_IO_VERSION:-1.4.0}"
NODE_VERSION="${FLAMESTREAM_PYROSCOPE_NODEJS_VERSION:-0.6.4}"
PLAYWRIGHT_VERSION="${FLAMESTREAM_PLAYWRIGHT_VERSION:-1.65.1}"
NODE_DIR="$OPS_DIR/.clients/node"

T_ALL="$(now)"

# ---------------------------------------------------------------- Go
GO_PPROF_DIR=/usr/share/gocode/src/github.com/google/pprof/profile
if command -v go >/dev/null && [[ -d "$GO_PPROF_DIR" ]]; then
    log "go: $(go version) and github.com/google/pprof already installed"
else
    apt_install golang-go golang-github-google-pprof-dev
    log "go: $(go version)"
fi

# ---------------------------------------------------------------- Python SDK
if python3 -c 'import pyroscope' 2>/dev/null; then
    log "pyroscope-io: already installed"
else
    t0="$(now)"
    log "pyroscope-io: pip install pyroscope-io==$PY_VERSION"
    pip_install "pyroscope-io==$PY_VERSION"
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

# ---------------------------------------------------------------- browser (web page test)
command -v chromium >/dev/null || apt_install chromium
log "chromium: $(chromium --version 2>/dev/null | head -n1)"
if [[ -f "$NODE_DIR/node_modules/playwright-core/package.json" ]] &&
    grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" "$NODE_DIR/node_modules/playwright-core/package.json"; then
    log "playwright-core: $PLAYWRIGHT_VERSION already installed in $NODE_DIR"
else
    t0="$(now)"
    log "playwright-core: npm install playwright-core@$PLAYWRIGHT_VERSION into $NODE_DIR (no browser download: it drives Debian's chromium)"
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION")
    log "playwright-core: installed in $(elapsed "$t0")"
fi

log "clients present ($(elapsed "$T_ALL")); NODE_PATH=$NODE_DIR/node_modules"
