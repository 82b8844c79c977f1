#!/usr/bin/env bash
# The web page and /docs in a real browser: Debian's chromium and chromedriver (installed
# here when missing), driven by Selenium from a pinned virtualenv, against the release binary.
#
#   bash .ci/browser.sh [BINARY]    (default: builds target/release/pieces-connector)
#
# The test (tests/browser/test_web_ui.py) starts the service itself on free loopback ports
# with a throwaway SQLite file, writes its screenshots to docs/screenshots/ and prints the
# page's weight. Selenium comes from PyPI into $BROWSER_VENV (default .ci/.browser-venv),
# reused while the pin stays the same.
set -euo pipefail

bin="${1:-}"
[[ -z "$bin" ]] || bin="$(realpath -- "$bin")"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly REQUIREMENTS=(selenium==4.50.0)
readonly VENV="${BROWSER_VENV:-.ci/.browser-venv}"

step() { printf '\n== %s\n' "$*"; }
as_root() { if ((EUID == 0)); then "$@"; else sudo "$@"; fi; }

step "browser: chromium and chromedriver"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
chromium --version 2>/dev/null | head -1
chromedriver --version | head -1

step "tools: ${REQUIREMENTS[*]}"
# shellcheck source=.ci/lib/venv.sh
source .ci/lib/venv.sh
ensure_venv "$VENV" "${REQUIREMENTS[@]}"

if [[ -z "$bin" ]]; then
  step "release binary"
  cargo build --locked --release --bin pieces-connector
  bin="${CARGO_TARGET_DIR:-target}/release/pieces-connector"
fi

step "the page in a browser: $bin"
"$VENV/bin/python" tests/browser/test_web_ui.py "$bin"
