#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine and run the Python and R test suites.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_python.sh test,examples
.venv/bin/python -m pytest -q -p no:cacheprovider tests
