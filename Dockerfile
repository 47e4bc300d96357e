# syntax=docker/dockerfile:1
# flamestream container image: one binary, every role (serve, replay, validate, check, migrate).
#
#   docker build -t flamestream:local .
#   docker run --rm -p 127.0.0.1:4040:4040 flamestream:local            # embedded pipeline
#   docker run --rm flamestream:local serve --pipeline /etc/flamestream/edge.toml
#
# The pipeline files from pipelines/ are in /etc/flamestream and in the working directory
# (/var/lib/flamestream/pipelines, so `serve` with no flags finds pipelines/embedded.toml); data
# (SQLite in embedded mode) goes to /var/lib/flamestream/data.

# ---------------------------------------------------------------- build
FROM rust:1-bookworm AS builder
# rdkafka builds its bundled librdkafka with cmake, against OpenSSL and zlib.
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake pkg-config libssl-dev zlib1g-dev libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile production --locked -p flamestream \
    && install -m 0755 target/production/flamestream /usr/local/bin/flamestream

# ---------------------------------------------------------------- runtime
FROM debian:bookworm-slim
# libssl3/zlib1g: linked by librdkafka; curl: container healthchecks (/ready, /healthz).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl libssl3 zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 flamestream \
    && useradd --system --uid 10001 --gid flamestream --home-dir /var/lib/flamestream \
        --shell /usr/sbin/nologin flamestream \
    && mkdir -p /var/lib/flamestream/data \
    && chown -R flamestream:flamestream /var/lib/flamestream
COPY --from=builder /usr/local/bin/flamestream /usr/local/bin/flamestream
COPY pipelines/ /etc/flamestream/
COPY --chown=flamestream:flamestream pipelines/ /var/lib/flamestream/pipelines/
WORKDIR /var/lib/flamestream
USER flamestream:flamestream
ENV FLAMESTREAM_DATA_DIR=/var/lib/flamestream/data
EXPOSE 4040
VOLUME ["/var/lib/flamestream/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=6 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:4040/healthz || exit 1
ENTRYPOINT ["flamestream"]
CMD ["serve"]
