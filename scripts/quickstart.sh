#!/usr/bin/env bash
# The newcomer's first run: set up, build the example dataset, blur it, show what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_python.sh examples
rm -rf example_output
.venv/bin/trapblur example example_output
status=0
.venv/bin/trapblur blur example_output/cameras --results example_output/md_results.json \
  --out example_output/shareable || status=$?
.venv/bin/python examples/before_after.py example_output/cameras/site_A/IMG_0001.jpg \
  example_output/shareable/site_A/IMG_0001.jpg example_output/before_after.jpg
echo "Done. Open example_output/before_after.jpg; the report is example_output/shareable/trapblur_report.csv"
exit "$status"
