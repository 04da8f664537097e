#!/usr/bin/env bash
# The newcomer's first run: set up, build the example dataset offline, find the people in it with the
# built-in model, blur them, and show what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_python.sh examples detection
rm -rf example_output
.venv/bin/trapblur example example_output
status=0
.venv/bin/trapblur run example_output/cameras --out example_output/shareable || status=$?
.venv/bin/python examples/before_after.py example_output/cameras/site_A/IMG_0001.jpg \
  example_output/shareable/site_A/IMG_0001.jpg example_output/before_after.jpg
echo "Done: example_output/before_after.jpg shows one image before and after;"
echo "      example_output/shareable/trapblur_report.csv says what was done to each image."
exit "$status"
