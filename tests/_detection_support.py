"""Shared set-up for the detection tests: offline Ultralytics, the shared folder, the model files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="trapblur-yolo-config-"))
# ONNX copies of the built-in model (detection/onnx_twin.py) go to a cache of the test run, not the user's.
os.environ.setdefault("TRAPBLUR_CACHE_DIR", tempfile.mkdtemp(prefix="trapblur-cache-"))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_IMAGES = SHARED / "data" / "images"
YOLOX = SHARED / "models" / "yolox_nano.onnx"
DATA = Path(__file__).resolve().parent / "data"
MDV5_FIXTURE = DATA / "mdv5_like_random.pt"
MDV5_EXPECTED = DATA / "mdv5_like_random_expected.npz"


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """IoU of two (x, y, w, h) boxes."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    h = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = w * h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0
