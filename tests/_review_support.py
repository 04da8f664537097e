"""A finished run to review: real images (the shared camera-trap set when present, generated ones always),
including file names that are HTML, a person the detector scored below the threshold, and withheld files."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from trapblur import blur_dataset

from conftest import SHARED_IMAGES, SHARED_MD, make_camera_jpeg, person

XSS_NAME = "<img src=x onerror=alert(1)>.jpg"
SCRIPT_NAME = "\"'><script>alert(2)<!--&amp;.jpg"
LOW_BOX = [0.3, 0.2, 0.3, 0.6]  # the person scored 0.07: shown under "check these first"


@dataclass(frozen=True)
class Run:
    images: Path
    results: Path
    share: Path
    shared: bool  # whether the shared camera-trap images are in it


def build_run(root: Path, *, blurred: int = 2, use_shared: bool = True) -> Run:
    """Images, MegaDetector results and a finished ``blur_dataset`` run under ``root``."""
    images = root / "cameras"
    gen = images / "site B"
    gen.mkdir(parents=True)
    entries = []
    (gen / "low.jpg").write_bytes(make_camera_jpeg(800, 600, seed=1))
    entries.append({"file": "site B/low.jpg", "detections": [person(LOW_BOX, 0.07)]})
    (gen / XSS_NAME).write_bytes(make_camera_jpeg(640, 480, seed=2))
    entries.append({"file": f"site B/{XSS_NAME}", "detections": [person([0.1, 0.1, 0.2, 0.3], 0.06)]})
    (gen / SCRIPT_NAME).write_bytes(make_camera_jpeg(640, 480, seed=3))  # not in the results: withheld
    for index in range(blurred):
        (gen / f"person_{index}.jpg").write_bytes(make_camera_jpeg(640, 480, seed=10 + index))
        entries.append({"file": f"site B/person_{index}.jpg", "detections": [person([0.5, 0.3, 0.2, 0.4], 0.9)]})
    (gen / "empty.jpg").write_bytes(make_camera_jpeg(640, 480, seed=4))
    entries.append({"file": "site B/empty.jpg", "detections": []})
    info = {"format_version": "1.4", "detector": "test detector",
            "detector_metadata": {"typical_detection_threshold": 0.2, "conservative_detection_threshold": 0.05}}
    shared = use_shared and SHARED_IMAGES.is_dir() and (SHARED_MD / "shared_images.md.json").is_file()
    if shared:
        shutil.copytree(SHARED_IMAGES, images / "site A")
        document = json.loads((SHARED_MD / "shared_images.md.json").read_text())
        for entry in document["images"]:
            entries.append({**entry, "file": f"site A/{entry['file']}"})
        info = {**document["info"], "detector": "test detector"}
    results = root / "md.json"
    results.write_text(json.dumps({"info": info, "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
                                   "images": entries}))
    share = root / "share"
    blur_dataset(images, results, share, workers=2)
    return Run(images, results, share, shared)
