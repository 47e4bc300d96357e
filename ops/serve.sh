#!/usr/bin/env bash
# The README's first command: builds flamestream and runs it on its embedded default —
# port 4040, an in-process queue, SQLite under ./data — no Kafka, no ClickHouse.
#
#   ops/serve.sh                      # = cargo run --release -- serve
#   ops/serve.sh --listen 127.0.0.1:4041 --data-dir /tmp/fs
#
# The build needs a C toolchain, cmake and the OpenSSL/zlib/curl headers (for the Kafka
# client, librdkafka); on Debian/Ubuntu they are installed first when missing (root or sudo).
# Elsewhere install them yourself and run `cargo run --release -- serve`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if command -v apt-get >/dev/null && { ! command -v cmake >/dev/null || ! command -v pkg-config >/dev/null ||
    [[ ! -e /usr/include/zlib.h || ! -e /usr/include/x86_64-linux-gnu/curl/curl.h && ! -e /usr/include/curl/curl.h ]]; }; then
    echo "[serve] installing the build tools flamestream needs (cmake, pkg-config, OpenSSL/zlib/curl headers)" >&2
    ops/install-deps.sh --build-only
fi
exec cargo run --release -p flamestream -- serve "$@"
