#!/usr/bin/env bash
# Vendors the page's third-party browser files from the npm registry at pinned versions:
# only the files the page loads, with their licences, into web/vendor/<package>/. The service
# embeds web/ at compile time, so nothing is fetched at build or run time.
#
#   bash web/vendor/update.sh
#
# To move to another version, change its pin below, run this, look at the page and /docs,
# and commit web/vendor/ with the new PACKAGE line (name, version, the tarball's integrity).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

readonly HIGHLIGHT=@highlightjs/cdn-assets@11.12.0
readonly SWAGGER=swagger-ui-dist@5.35.0

command -v npm >/dev/null || { echo "npm is needed (apt-get install npm)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# vendor SPEC DIR FILE...: unpacks SPEC's tarball and copies FILEs (paths inside the package)
# flat into DIR, which is emptied first.
vendor() {
  local spec=$1 dir=$2
  shift 2
  local unpacked="$tmp/$dir"
  mkdir -p "$unpacked"
  local integrity
  integrity="$(cd "$unpacked" && npm pack --json --silent "$spec" | python3 -c \
    'import json, sys; p = json.load(sys.stdin)[0]; print(p["filename"], p["integrity"])')"
  read -r tarball integrity <<<"$integrity"
  tar -xzf "$unpacked/$tarball" -C "$unpacked"
  rm -rf "$dir"
  mkdir -p "$dir"
  local file
  for file in "$@"; do
    cp "$unpacked/package/$file" "$dir/"
  done
  printf '%s %s\n' "$spec" "$integrity" >"$dir/PACKAGE"
  echo "$spec -> web/vendor/$dir ($(du -sh "$dir" | cut -f1))"
}

# The ES-module build of highlight.js with its common languages, and one theme.
vendor "$HIGHLIGHT" highlightjs-cdn-assets \
  LICENSE es/highlight.min.js styles/github-dark.min.css

# Swagger UI for /docs: the browser bundle and its stylesheet (the initializer is our own
# web/docs.js, since the page's Content-Security-Policy allows no inline script).
vendor "$SWAGGER" swagger-ui-dist \
  LICENSE NOTICE swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css
