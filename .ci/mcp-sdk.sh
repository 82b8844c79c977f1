#!/usr/bin/env bash
# /mcp driven by the official MCP Python SDK, a strict client that checks every tool's
# structured result against the tool's declared output schema (tests/mcp_sdk/).
#
#   bash .ci/mcp-sdk.sh [BINARY]    (default target/debug/pieces-connector)
#
# BINARY is the service binary; nothing is built here. The SDK comes from PyPI into a
# virtualenv at $MCP_SDK_VENV (default .ci/.mcp-venv), reused while the pin stays the same.
set -euo pipefail

bin="${1:-}"
[[ -z "$bin" ]] || bin="$(realpath -- "$bin")"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="${bin:-$PWD/target/debug/pieces-connector}"
[[ -x "$bin" ]] || { echo "FAIL: no service binary at $bin (build it first)" >&2; exit 1; }

readonly REQUIREMENTS=(mcp==2.3.0)
readonly VENV="${MCP_SDK_VENV:-.ci/.mcp-venv}"

# shellcheck source=.ci/lib/venv.sh
source .ci/lib/venv.sh
ensure_venv "$VENV" "${REQUIREMENTS[@]}"
"$VENV/bin/python" tests/mcp_sdk/test_strict_client.py "$bin"
