# syntax=docker/dockerfile:1
# Irene as a container image: one static-ish binary on Debian bookworm, run as uid 10001.
#
#   docker build -t irene .                  # the default image: irene and CA certificates
#   docker build -t irene:full --target full .   # + Debian's chromium, for exposure screenshots
#   docker run --init -p 8080:8080 -v irene-data:/data \
#     -v "$PWD/irene.toml:/etc/irene/irene.toml:ro" -e IRENE_INGEST_TOKEN irene
#
# The image holds no configuration and no secret: mount irene.toml at /etc/irene/irene.toml and
# pass secrets as environment variables its `${VAR}` references read. IRENE_LISTEN and
# IRENE_DATA_DIR are set below and beat the file's `listen` and `data_dir` (override with -e).
# Irene refuses to listen beyond loopback without [[tokens]], so the file must name one.
# A bind-mounted /data must be writable by uid 10001. With `database_url` (PostgreSQL) /data
# only holds the file links' secret, unless [files] secret sets it (do, with several instances).
#
# No HEALTHCHECK (the image has no curl): point the orchestrator's probe at GET /readyz (ready
# to accept) and GET /healthz (alive) on port 8080.
#
# `--init` (or tini) reaps Chromium's helper processes; Irene itself handles SIGTERM.
# Screenshots (`full`): Chromium keeps its sandbox as a non-root user, which needs user
# namespaces; Docker's default seccomp profile refuses them, so give the `full` image a profile
# that allows them, or set [probe] screenshots = false. The probes need no capability (TCP
# connects, no raw sockets).

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# The registry and the target folder are cache mounts: a rebuild after a change compiles only
# what changed. The binary is copied out of the mount in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p irene \
    && install -D -m 0755 target/release/irene /out/irene

FROM ${RUNTIME_IMAGE} AS base
# Packages are not pinned: each build takes bookworm's current security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 irene \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin irene \
    && mkdir -p /data /etc/irene \
    && chown 10001:10001 /data \
    && chmod 0700 /data
COPY --from=build /out/irene /usr/local/bin/irene
ENV IRENE_LISTEN=0.0.0.0:8080 \
    IRENE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
WORKDIR /data
USER 10001:10001
ENTRYPOINT ["irene"]
CMD ["serve", "--config", "/etc/irene/irene.toml"]

# With Debian's chromium for the exposure checks' screenshots ([browser] chromium = "chromium").
FROM base AS full
USER 0
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-liberation \
    && rm -rf /var/lib/apt/lists/*
USER 10001:10001

# The default target (built without --target): no browser; screenshots are then skipped.
FROM base AS slim
