#!/usr/bin/env bash
# Create (or update) the project's Python environment in .venv and install trapblur into it.
# Usage: bash scripts/setup_python.sh [EXTRAS]     e.g. EXTRAS="test,examples"
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-examples}"
python="${TRAPBLUR_BASE_PYTHON:-python3}"
if ! "$python" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null; then
  echo "trapblur needs Python 3.10 or newer as '$python' (set TRAPBLUR_BASE_PYTHON)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${extras}]"
echo "Python environment ready: .venv ($(.venv/bin/python --version), extras: ${extras})"
