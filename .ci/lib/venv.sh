# shellcheck shell=bash
# Sourced by the CI scripts: a Python virtualenv with pinned requirements, made once and reused
# while the pins stay the same.

# ensure_venv DIR REQUIREMENT... : DIR holds a virtualenv with exactly these requirements.
ensure_venv() {
  local venv=$1
  shift
  if [[ -x "$venv/bin/python" && "$(cat "$venv/.requirements" 2>/dev/null)" == "$*" ]]; then
    echo "reusing $venv"
  else
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$@"
    printf '%s' "$*" >"$venv/.requirements"
  fi
}
