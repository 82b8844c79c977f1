#!/usr/bin/env bash
# Builds, pushes and deploys pieces-connector into the platform's namespace: one kustomize
# overlay of k8s/overlays/, with the image it built set through kustomize's `images`.
# Run ./deploy.sh --help for the options; the Deploy section of README.md is the operator's guide.
set -euo pipefail

readonly NAMESPACE=aiwfe
readonly APP=pieces-os-connector
readonly IMAGE_NAME=pieces-connector
readonly MIN_K8S_MINOR=30 # lifecycle.preStop.sleep is on by default from 1.30

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly ROOT
readonly K8S_DIR="$ROOT/k8s"
readonly MONITORING_DIR="$ROOT/k8s/monitoring"
# The image name the base Deployment gives its container, which kustomize's `images` replaces.
readonly BASE_IMAGE=pieces-connector

OVERLAY="${OVERLAY:-embeddings-ollama}"
REGISTRY="${REGISTRY:-aiwfe}"
TAG="${TAG:-}"
SKIP_BUILD="${SKIP_BUILD:-false}"
DRY_RUN="${DRY_RUN:-false}"
ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-300s}"
# Set once the image is pushed: the registry's digest of it.
DIGEST=""
WORK=""

usage() {
  cat <<EOF
Usage: ./deploy.sh [options]

Builds the image, pushes it, and deploys pieces-connector into namespace $NAMESPACE of the
current kubectl context.

Options (environment variable in brackets):
  --overlay NAME   which k8s/overlays/NAME to deploy: $(overlays) [OVERLAY, default: embeddings-ollama]
  --registry REG   image registry and path, e.g. registry.example.com/aiwfe [REGISTRY, default: aiwfe]
  --tag TAG        image tag [TAG, default: git commit, or a timestamp outside git]; an overlay
                   with a Dockerfile stage of its name gets that stage's image, tagged TAG-NAME
  --skip-build     deploy that image as it is, without docker [SKIP_BUILD=true]
  --dry-run        print the commands and manifests, touch no cluster, need no docker; kubectl
                   only renders the overlay (kubectl kustomize) [DRY_RUN=true]
  -h, --help       show this help

Other environment variables:
  DATABASE_URL     postgres:// URL, used only to create secret pieces-connector-db when it is missing
  ROLLOUT_TIMEOUT  how long to wait for the rollout [default: 300s]
EOF
}

# The overlays there are, separated by spaces.
overlays() {
  local dir names=()
  for dir in "$K8S_DIR"/overlays/*/; do
    names+=("$(basename "$dir")")
  done
  printf '%s' "${names[*]}"
}

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Runs a command, or only prints it in dry-run mode.
run() {
  if [[ "$DRY_RUN" == true ]]; then
    printf '+ %s\n' "$*"
  else
    "$@"
  fi
}

parse_args() {
  while (($#)); do
    case "$1" in
      --registry)
        [[ $# -ge 2 ]] || die "--registry needs a value"
        REGISTRY="$2"
        shift 2
        ;;
      --registry=*) REGISTRY="${1#*=}" && shift ;;
      --overlay)
        [[ $# -ge 2 ]] || die "--overlay needs a value"
        OVERLAY="$2"
        shift 2
        ;;
      --overlay=*) OVERLAY="${1#*=}" && shift ;;
      --tag)
        [[ $# -ge 2 ]] || die "--tag needs a value"
        TAG="$2"
        shift 2
        ;;
      --tag=*) TAG="${1#*=}" && shift ;;
      --skip-build) SKIP_BUILD=true && shift ;;
      --dry-run) DRY_RUN=true && shift ;;
      -h | --help)
        usage
        exit 0
        ;;
      *)
        usage >&2
        die "unknown option: $1"
        ;;
    esac
  done
}

# An immutable tag per commit, so that `kubectl rollout undo` returns to a known image.
default_tag() {
  local sha
  if sha="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null)"; then
    if [[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]]; then
      printf '%s-dirty-%s' "$sha" "$(date -u +%Y%m%d%H%M%S)"
    else
      printf '%s' "$sha"
    fi
  else
    date -u +%Y%m%d%H%M%S
  fi
}

# The Dockerfile stage an overlay runs: the stage of the overlay's own name when there is one
# (embeddings-local: the image with the model in it), the default image otherwise.
build_target() {
  if grep -Eq "^FROM [^ ]+ AS $OVERLAY\$" "$ROOT/Dockerfile"; then
    printf '%s' "$OVERLAY"
  fi
}

check_prerequisites() {
  [[ "$IMAGE_TAG" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "invalid image tag: $IMAGE_TAG"
  # kustomize is part of kubectl; a dry run uses it too, to render, and touches no cluster.
  command -v kubectl >/dev/null || die "kubectl is not installed"
  if [[ "$DRY_RUN" == true ]]; then
    return
  fi
  if [[ "$SKIP_BUILD" != true ]]; then
    command -v docker >/dev/null || die "docker is not installed (or pass --skip-build)"
    docker info >/dev/null 2>&1 || die "the docker daemon is not reachable"
  fi
  local context
  context="$(kubectl config current-context 2>/dev/null)" || die "kubectl has no current context"
  kubectl version --request-timeout=10s >/dev/null 2>&1 ||
    die "cannot reach the cluster of context '$context'"
  log "kubectl context: $context"

  local minor
  minor="$(kubectl get --raw /version 2>/dev/null | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p')" || minor=""
  if [[ -n "$minor" ]] && ((minor < MIN_K8S_MINOR)); then
    die "Kubernetes 1.$minor is too old: the preStop sleep handler needs 1.$MIN_K8S_MINOR or later"
  fi
}

build_and_push() {
  if [[ "$SKIP_BUILD" == true ]]; then
    log "skipping the build; deploying $IMAGE"
    return
  fi
  local target
  target="$(build_target)"
  log "building $IMAGE${target:+ (stage $target)}"
  run docker build ${target:+--target "$target"} --tag "$IMAGE" "$ROOT"
  log "pushing $IMAGE"
  run docker push "$IMAGE"
  # The registry's digest of what was pushed: the pods then run exactly this image, even if
  # the tag were pushed again.
  if [[ "$DRY_RUN" == true ]]; then
    printf '+ docker image inspect %s (its digest in %s)\n' "$IMAGE" "$REPOSITORY"
    return
  fi
  DIGEST="$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$IMAGE" |
    awk -F@ -v repo="$REPOSITORY" '$1 == repo { print $2; exit }')"
  if [[ "$DIGEST" =~ ^sha256:[0-9a-f]{64}$ ]]; then
    log "pushed $REPOSITORY@$DIGEST"
  else
    warn "no registry digest found for $IMAGE; the pods will run it by its tag"
    DIGEST=""
  fi
}

random_secret() {
  if command -v openssl >/dev/null; then
    openssl rand -hex 32
  else
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n'
  fi
}

secret_exists() { kubectl -n "$NAMESPACE" get secret "$1" >/dev/null 2>&1; }

secret_value() {
  kubectl -n "$NAMESPACE" get secret "$1" -o "jsonpath={.data.$2}" | base64 --decode
}

# `kubectl create` from stdin: the value never appears in a process list, and unlike
# `kubectl apply` it leaves no last-applied annotation holding the value.
create_secret() {
  local name="$1" key="$2" encoded
  encoded="$(printf '%s' "$3" | base64 | tr -d '\n')"
  kubectl create -f - >/dev/null <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: $name
  namespace: $NAMESPACE
  labels:
    app.kubernetes.io/part-of: aiwfe
type: Opaque
data:
  $key: $encoded
EOF
}

# Creates the secret with a random value when it is missing; never changes an existing one.
ensure_generated_secret() {
  local name="$1" key="$2"
  if [[ "$DRY_RUN" == true ]]; then
    printf '+ kubectl -n %s create secret %s (%s=<openssl rand -hex 32>), only if missing\n' \
      "$NAMESPACE" "$name" "$key"
    return
  fi
  if secret_exists "$name"; then
    [[ -n "$(secret_value "$name" "$key")" ]] ||
      die "secret $name exists but has no key $key; add it or delete the secret"
    log "secret $name exists"
  else
    create_secret "$name" "$key" "$(random_secret)"
    warn "created secret $name with a generated $key; services sharing it must use the same value"
  fi
}

ensure_database_secret() {
  local name=pieces-connector-db key=database-url
  if [[ "$DRY_RUN" == true ]]; then
    printf '+ kubectl -n %s create secret %s (%s=<DATABASE_URL>), only if missing\n' \
      "$NAMESPACE" "$name" "$key"
    return
  fi
  if secret_exists "$name"; then
    log "secret $name exists"
    return
  fi
  [[ -n "${DATABASE_URL:-}" ]] ||
    die "secret $name is missing: set DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DB and run again (see the Deploy section of README.md)"
  [[ "$DATABASE_URL" == postgres://* || "$DATABASE_URL" == postgresql://* ]] ||
    die "DATABASE_URL must be a postgres:// URL: several replicas cannot share an SQLite file"
  create_secret "$name" "$key" "$DATABASE_URL"
  log "created secret $name"
}

prepare_cluster() {
  log "namespace $NAMESPACE and secrets"
  if [[ "$DRY_RUN" == true ]]; then
    printf '+ kubectl create namespace %s, only if missing\n' "$NAMESPACE"
  elif ! kubectl get namespace "$NAMESPACE" >/dev/null 2>&1; then
    kubectl create namespace "$NAMESPACE"
  fi
  ensure_generated_secret aiwfe-auth-secret jwt-secret
  ensure_generated_secret aiwfe-api-secret api-key
  ensure_database_secret
  # pieces-api-secret is optional and holds a key issued by Pieces: nothing to generate.

  if [[ "$DRY_RUN" != true ]]; then
    local jwt
    jwt="$(secret_value aiwfe-auth-secret jwt-secret)"
    ((${#jwt} >= 32)) ||
      die "aiwfe-auth-secret/jwt-secret is shorter than 32 bytes; the service refuses it"
  fi
}

# A kustomization of our own around the overlay (a link to it, since kustomize takes no absolute
# paths): the image just built, and the replica count the autoscaler chose, so a deploy never
# resets it to the manifest's.
write_kustomization() {
  local dir="$1" replicas=""
  ln -s "$K8S_DIR/overlays/$OVERLAY" "$dir/overlay"
  if [[ "$DRY_RUN" != true ]]; then
    replicas="$(kubectl -n "$NAMESPACE" get deployment "$APP" -o 'jsonpath={.spec.replicas}' 2>/dev/null || true)"
  fi
  {
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n'
    printf 'resources:\n  - overlay\n'
    printf 'images:\n  - name: %s\n    newName: %s\n    newTag: "%s"\n' "$BASE_IMAGE" "$REPOSITORY" "$IMAGE_TAG"
    if [[ -n "$DIGEST" ]]; then
      printf '    digest: %s\n' "$DIGEST"
    fi
    if [[ "$replicas" =~ ^[0-9]+$ ]]; then
      printf 'replicas:\n  - name: %s\n    count: %s\n' "$APP" "$replicas"
    fi
  } >"$dir/kustomization.yaml"
}

apply_manifests() {
  local dir="$1"
  log "applying k8s/overlays/$OVERLAY"
  if [[ "$DRY_RUN" == true ]]; then
    printf '+ kubectl apply -k %s, with this kustomization.yaml:\n' "$dir"
    sed 's/^/    /' "$dir/kustomization.yaml"
    printf 'which renders:\n'
    kubectl kustomize "$dir"
    printf -- '--- end of the rendered manifests\n'
  else
    kubectl apply -k "$dir"
  fi

  if [[ "$DRY_RUN" == true ]]; then
    printf '+ kubectl apply -f k8s/monitoring/ (only when CRD servicemonitors.monitoring.coreos.com exists)\n'
    cat "$MONITORING_DIR"/*.yaml
  elif kubectl get crd servicemonitors.monitoring.coreos.com >/dev/null 2>&1; then
    kubectl apply -f "$MONITORING_DIR"
  else
    warn "no ServiceMonitor CRD in this cluster: skipped k8s/monitoring/; Prometheus can still scrape the pods' prometheus.io annotations"
  fi
}

wait_for_rollout() {
  log "waiting for the rollout (up to $ROLLOUT_TIMEOUT)"
  if run kubectl -n "$NAMESPACE" rollout status "deployment/$APP" --timeout="$ROLLOUT_TIMEOUT"; then
    return
  fi
  kubectl -n "$NAMESPACE" get pods -l "app=$APP" -o wide >&2 || true
  kubectl -n "$NAMESPACE" get events --sort-by=.lastTimestamp 2>/dev/null | tail -n 20 >&2 || true
  die "rollout did not finish; inspect with: kubectl -n $NAMESPACE describe pods -l app=$APP
       roll back with: kubectl -n $NAMESPACE rollout undo deployment/$APP"
}

print_status() {
  run kubectl -n "$NAMESPACE" get deployment,pods,service,hpa,pdb -l "app=$APP"
  local done=Deployed
  if [[ "$DRY_RUN" == true ]]; then
    done="Dry run: would deploy"
  fi
  cat <<EOF

$done $IMAGE${DIGEST:+@$DIGEST} (overlay $OVERLAY) to namespace $NAMESPACE.

In the cluster:  http://$APP.$NAMESPACE.svc.cluster.local:8200/api/v1
From here:       kubectl -n $NAMESPACE port-forward svc/$APP 8200:8200
                 curl -s localhost:8200/health/ready
A test token:    TOKEN=\$(kubectl -n $NAMESPACE exec deploy/$APP -- pieces-connector token --user smoke-test)
                 curl -s -H "Authorization: Bearer \$TOKEN" 'localhost:8200/api/v1/snippets?limit=1'
Logs:            kubectl -n $NAMESPACE logs -l app=$APP -f
Roll back:       kubectl -n $NAMESPACE rollout undo deployment/$APP
                 or ./deploy.sh --overlay $OVERLAY --skip-build --tag <an earlier TAG>
EOF
}

main() {
  parse_args "$@"
  [[ "$OVERLAY" =~ ^[a-z0-9-]+$ && -f "$K8S_DIR/overlays/$OVERLAY/kustomization.yaml" ]] ||
    die "unknown overlay '$OVERLAY'; one of: $(overlays)"
  if [[ -z "$TAG" ]]; then
    TAG="$(default_tag)"
  fi
  # One tag per stage, so the default image and the one with the model never overwrite each other.
  IMAGE_TAG="$TAG"
  if [[ -n "$(build_target)" ]]; then
    IMAGE_TAG="$TAG-$OVERLAY"
  fi
  REPOSITORY="${REGISTRY%/}/$IMAGE_NAME"
  IMAGE="$REPOSITORY:$IMAGE_TAG"
  readonly IMAGE_TAG REPOSITORY IMAGE
  check_prerequisites
  if [[ "$DRY_RUN" == true ]]; then
    log "dry run: nothing is built, pushed or applied"
  fi

  # Secrets first: a missing DATABASE_URL should stop the deploy before a long build.
  prepare_cluster
  build_and_push

  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  write_kustomization "$WORK"
  apply_manifests "$WORK"
  wait_for_rollout
  print_status
}

main "$@"
