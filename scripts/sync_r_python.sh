#!/usr/bin/env bash
# Copy the Python core into the R package, so that install_trapblur() needs nothing but the R package.
#
#   bash scripts/sync_r_python.sh           # (re)generate rpkg/inst/python from python/ and pyproject.toml
#   bash scripts/sync_r_python.sh --check   # fail (exit 1, with a diff) when rpkg/inst/python is not that copy
#
# rpkg/inst/python is a generated artefact, committed so that an R package built from rpkg/ alone (folder
# or tarball) carries the core it was tested with. It holds exactly:
#   pyproject.toml                  the top-level one, without its `readme` line (README is not copied)
#   python/trapblur/**/*.py         the package, without __pycache__ or anything that is not source
#   requirements/detect-cpu.txt     the CPU torch pins install_trapblur(detection = TRUE) uses
# Run it after every change to python/ (scripts/test_r.sh runs --check) and commit the result.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="$ROOT/rpkg/inst/python"

generate() { # $1: folder to write the copy into (created empty)
  local out="$1"
  mkdir -p "$out/python" "$out/requirements"
  grep -v '^readme[[:space:]]*=' "$ROOT/pyproject.toml" > "$out/pyproject.toml"
  (cd "$ROOT/python" && find trapblur -name '*.py' -not -path '*/__pycache__/*' -print0 | sort -z |
     while IFS= read -r -d '' file; do
       mkdir -p "$out/python/$(dirname "$file")"
       cp "$file" "$out/python/$file"
     done)
  cp "$ROOT/requirements/detect-cpu.txt" "$out/requirements/detect-cpu.txt"
}

if [ "${1:-}" = "--check" ]; then
  fresh="$(mktemp -d)"
  trap 'rm -rf "$fresh"' EXIT
  generate "$fresh/python"
  if ! diff -r -x __pycache__ "$fresh/python" "$TARGET" > "$fresh/diff" 2>&1; then
    cat "$fresh/diff" >&2
    echo "rpkg/inst/python is not a copy of python/: run  bash scripts/sync_r_python.sh  and commit the result" >&2
    exit 1
  fi
  echo "rpkg/inst/python is the copy of python/ ($(find "$TARGET" -name '*.py' | wc -l) Python files)"
  exit 0
fi

rm -rf "$TARGET"
generate "$TARGET"
echo "wrote $TARGET ($(find "$TARGET" -name '*.py' | wc -l) Python files): commit it with your change to python/"
