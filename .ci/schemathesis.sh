#!/usr/bin/env bash
# Property-based API tests of the running service against its own /openapi.json, with
# schemathesis: every check (server errors, status codes, content types, response schemas and
# headers, negative data rejected, positive data accepted, auth really enforced, a deleted
# resource gone, ...) over the examples, coverage, fuzzing and stateful phases.
#
#   bash .ci/schemathesis.sh [BINARY]    (default target/debug/pieces-connector)
#
# BINARY is the service binary, e.g. the one `cargo test` has already built; nothing is built
# here. The service runs on free loopback ports with a throwaway SQLite database and a random
# JWT secret, and is stopped on exit. schemathesis comes from PyPI into a virtualenv at
# $SCHEMATHESIS_VENV (default .ci/.st-venv), reused while the pinned version stays the same.
# Its settings (seed, examples per operation, phases, timeouts) are in .ci/schemathesis.toml;
# ST_SEED, ST_MAX_EXAMPLES and ST_WORKERS override them for one run, and ST_REPORT_DIR keeps
# the JUnit report there.
# Exits non-zero on any failure, printing a reproducing curl command for each.
set -euo pipefail

# The binary is named relative to where the script is called from; the default, to the repo.
bin="${1:-}"
[[ -z "$bin" ]] || bin="$(realpath -- "$bin")"
report_dir="${ST_REPORT_DIR:-}"
[[ -z "$report_dir" ]] || report_dir="$(realpath -m -- "$report_dir")"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="${bin:-$PWD/target/debug/pieces-connector}"

readonly REQUIREMENTS=(schemathesis==4.32.5)
readonly VENV="${SCHEMATHESIS_VENV:-.ci/.st-venv}"

step() { printf '\n== %s\n' "$*"; }
die() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

[[ -x "$bin" ]] || die "no service binary at $bin (build it first: cargo build)"

step "tools: ${REQUIREMENTS[*]}"
# shellcheck source=.ci/lib/venv.sh
source .ci/lib/venv.sh
ensure_venv "$VENV" "${REQUIREMENTS[@]}"
python="$(cd "$VENV/bin" && pwd)/python"
st="$(cd "$VENV/bin" && pwd)/st"

tmp="$(mktemp -d)"
service_pid=""
st_pid=""
cleanup() {
  local pid
  for pid in "$st_pid" "$service_pid"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Three distinct ports the kernel reports free right now.
read -r api_port metrics_port health_port < <("$python" - <<'PY'
import socket

socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
PY
)

export DATABASE_URL="sqlite://$tmp/pieces.db"
JWT_SECRET_KEY="$("$python" -c 'import secrets; print(secrets.token_hex(32))')"
export JWT_SECRET_KEY
export BIND_ADDRESS=127.0.0.1 API_PORT="$api_port" METRICS_PORT="$metrics_port" HEALTH_PORT="$health_port"
export LOG_LEVEL=warn LOG_FORMAT=text
# schemathesis calls ai-assist far more often than a person would. Without an AI provider
# (COGNITIVE_SERVICES_URL, OPENAI_BASE_URL) it answers 503 (documented), streamed or not,
# which is what is tested here: never a real model, never a stream that does not end.
export AI_ASSIST_RATE_PER_MINUTE=1000000
# Its one user makes thousands of tokens; past TOKENS_MAX_PER_USER a create answers 422
# whatever the body, a refusal that depends on what was made before, not on the request.
export TOKENS_MAX_PER_USER=1000000
# Share routes are limited per client address, and schemathesis is one address.
export SHARE_RATE_PER_MINUTE=1000000
unset COGNITIVE_SERVICES_URL GATEWAY_URL DATA_PLATFORM_URL REDIS_URL CONFIG_FILE JWT_ISSUER JWT_AUDIENCE
unset AI_PROVIDERS OPENAI_BASE_URL OPENAI_API_KEY OPENAI_MODEL

step "service: $bin on 127.0.0.1:$api_port (health $health_port)"
token="$("$bin" token --user schemathesis)" || die "$bin token failed"
"$bin" serve >"$tmp/service.log" 2>&1 &
service_pid=$!

ready=""
for _ in $(seq 1 120); do
  kill -0 "$service_pid" 2>/dev/null || break
  if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$health_port/health/ready")" == 200 ]]; then
    ready=1
    break
  fi
  sleep 0.5
done
if [[ -z "$ready" ]]; then
  cat "$tmp/service.log" >&2
  die "the service did not become ready on http://127.0.0.1:$health_port/health/ready"
fi
echo "ready"

overrides=()
[[ -z "${ST_SEED:-}" ]] || overrides+=(--seed "$ST_SEED")
[[ -z "${ST_MAX_EXAMPLES:-}" ]] || overrides+=(--max-examples "$ST_MAX_EXAMPLES")
[[ -z "${ST_WORKERS:-}" ]] || overrides+=(--workers "$ST_WORKERS")

step "schemathesis (.ci/schemathesis.toml${overrides[*]:+, }${overrides[*]})"
started=$SECONDS
status=0
junit="${report_dir:-$tmp}/schemathesis-junit.xml"
mkdir -p "$(dirname "$junit")"
config="$PWD/.ci/schemathesis.toml"
# From $tmp, where hypothesis leaves its .hypothesis directory; in the background so that a
# signal stops the run at once (bash runs traps only between commands, and `wait` is one it
# can leave).
(
  cd "$tmp"
  exec "$st" --config-file "$config" run "http://127.0.0.1:$api_port/openapi.json" \
    --checks all \
    --header "Authorization: Bearer $token" \
    --report junit --report-junit-path "$junit" \
    --no-color \
    ${overrides[@]+"${overrides[@]}"}
) &
st_pid=$!
wait "$st_pid" || status=$?
st_pid=""
elapsed=$((SECONDS - started))

if ! kill -0 "$service_pid" 2>/dev/null; then
  echo "the service exited during the run; its log:" >&2
  cat "$tmp/service.log" >&2
  ((status)) || status=1
fi

# One line: operations that passed and failed, from the JUnit report.
counts="$("$python" - "$junit" <<'PY' 2>/dev/null || echo "? ?"
import sys
import xml.etree.ElementTree as ET

cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
passed = failed = 0
for case in cases:
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
    else:
        passed += 1
print(passed, failed)
PY
)"
read -r passed failed <<<"$counts"
echo
echo "schemathesis: $passed passed, $failed failed"
if ((status)); then
  echo "schemathesis run failed (exit $status) in ${elapsed}s" >&2
  exit "$status"
fi
echo "schemathesis run passed in ${elapsed}s"
