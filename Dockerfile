# syntax=docker/dockerfile:1
#
# Build:  docker build -t pieces-connector .
# Run:    docker run --read-only --tmpfs /tmp -v pieces-data:/app/data \
#           -p 8200:8200 -p 9200:9200 -p 9201:9201 \
#           -e JWT_SECRET_KEY="$(openssl rand -hex 32)" pieces-connector
# The root filesystem can be read-only: the process writes only to /app/data (the embedded
# SQLite store, used when DATABASE_URL is unset; declared as a volume) and /tmp.

ARG RUST_VERSION=1.95

# --- planner: a skeleton of the workspace (the server and its crates under crates/) in which
# every .rs file is an empty stub. Its content changes only when the manifests or the set of
# files change, so the dependency layer below stays cached across source edits.
FROM rust:${RUST_VERSION}-slim-bookworm AS planner
WORKDIR /src
COPY . .
RUN printf '%s\n' '#![allow(warnings)] fn main() {}' > /tmp/stub.rs \
 && find . -type f ! -name '*.rs' ! -name Cargo.toml ! -name Cargo.lock -delete \
 && find . -type f -name '*.rs' -exec cp /tmp/stub.rs {} \;

# --- builder: dependencies first (cached), then the real sources ------------------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
COPY --from=planner /src ./
RUN cargo build --profile dist --locked --bin pieces-connector

COPY . .
# `cargo clean -p` drops the stub builds of the workspace's own crates, so file timestamps
# cannot make cargo mistake a stub for the real code. The dist profile (release with thin LTO
# across crates, see Cargo.toml) keeps line tables of the service's crates for readable
# backtraces; compressing them shrinks the binary without losing them.
RUN cargo clean --profile dist -p pieces-connector -p pieces-model -p pieces-metrics \
      -p pieces-config -p pieces-store -p pieces-cache -p pieces-upstream \
      -p pieces-embeddings -p pieces-service -p pieces-http \
 && cargo build --profile dist --locked --bin pieces-connector \
 && mkdir -p /out/data \
 && objcopy --compress-debug-sections=zlib target/dist/pieces-connector /out/pieces-connector

# --- runtime: glibc and CA certificates only, no shell, no package manager --------------------
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="pieces-connector" \
      org.opencontainers.image.description="Code snippets, workflow context and AI assistance for the AIWFE platform" \
      org.opencontainers.image.licenses="MIT"

COPY --from=builder /out/pieces-connector /usr/local/bin/pieces-connector
# An empty directory owned by the runtime user, so a volume mounted here inherits that owner.
COPY --from=builder --chown=65532:65532 /out/data /app/data

WORKDIR /app
# Numeric, so Kubernetes can verify runAsNonRoot without resolving a user name.
USER 65532:65532

ENV LOG_FORMAT=json
EXPOSE 8200 9200 9201
VOLUME ["/app/data"]

# The binary probes its own /health/live on HEALTH_PORT: the image has no shell or curl.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/pieces-connector", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/pieces-connector"]
CMD ["serve"]
