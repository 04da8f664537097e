"""A small example dataset built offline, for the quick start, the docs and the R examples.

It is made from what installs from the package registries, never downloaded: the portrait of Grace
Hopper that matplotlib ships (a public-domain U.S. Navy photograph) when matplotlib is installed, placed
near and far in generated outdoor scenes; a generated figure stands in for her when it is not. The
MegaDetector results file it writes places the person boxes where the person was put.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .results import MEGADETECTOR_CATEGORIES


@dataclass(frozen=True)
class ExampleDataset:
    images: Path  # the camera folder
    results: Path  # its MegaDetector results file


def make_example_dataset(folder: str | Path) -> ExampleDataset:
    """Write ``folder/cameras/`` (five JPEGs in two sites) and ``folder/md_results.json``."""
    folder = Path(folder)
    cameras = folder / "cameras"
    person = _person_picture()
    entries = []
    scenes = [
        ("site_A/IMG_0001.jpg", 11, (0.02, 0.02, 0.96), "2024:05:01 06:12:30"),  # visitor close to the camera
        ("site_A/IMG_0002.jpg", 12, (0.62, 0.38, 0.28), "2024:05:01 06:12:31"),  # walking away
        ("site_A/IMG_0003.jpg", 13, None, "2024:05:02 21:40:02"),  # nothing
        ("site_B/IMG_0001.jpg", 14, (0.12, 0.45, 0.18), "2024:05:03 17:03:45"),  # a distant hiker
        ("site_B/IMG_0002.jpg", 15, None, "2024:05:04 04:55:10"),  # nothing
    ]
    for name, seed, placement, date in scenes:
        scene = _outdoor_scene(1024, 768, seed)
        detections = []
        if placement is not None:
            x, y, height = placement
            box = _paste(scene, person, x, y, height)
            detections.append({"category": "2", "conf": 0.93, "bbox": [round(v, 4) for v in box]})
        path = cameras / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_camera_jpeg(scene, path, date)
        entries.append({"file": name, "detections": detections})
    document = {
        "info": {"format_version": "1.5", "detector": "trapblur example (boxes placed where the person was put)"},
        "detection_categories": MEGADETECTOR_CATEGORIES,
        "images": entries,
    }
    results = folder / "md_results.json"
    results.write_text(json.dumps(document, indent=1))
    return ExampleDataset(cameras, results)


def _person_picture() -> np.ndarray:
    try:
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as stream:
            return np.asarray(Image.open(stream).convert("RGB"))
    except Exception:  # matplotlib missing: a drawn figure (head, body) with fine detail to blur
        figure = np.full((600, 512, 3), (70, 90, 160), np.uint8)
        cv2.ellipse(figure, (256, 330), (230, 300), 0, 180, 360, (30, 30, 40), -1)
        cv2.circle(figure, (256, 190), 110, (200, 170, 150), -1)
        for eye in (215, 297):
            cv2.circle(figure, (eye, 170), 14, (20, 20, 20), -1)
        cv2.ellipse(figure, (256, 240), (45, 18), 0, 0, 180, (90, 30, 30), 6)
        return figure


def _outdoor_scene(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ys = np.linspace(0, 1, height)[:, None, None]
    sky = np.array([150, 185, 215]) * (1 - ys) + np.array([60, 90, 50]) * ys
    scene = np.broadcast_to(sky, (height, width, 3)).copy()
    ground = int(height * 0.45)
    grass = rng.normal(0, 22, (height - ground, width, 1)) + np.array([70, 95, 45])
    scene[ground:] = grass
    for _ in range(40):  # tree trunks
        x = int(rng.integers(0, width))
        cv2.rectangle(scene, (x, int(height * 0.15)), (x + int(rng.integers(6, 30)), ground + 40), (60, 45, 35), -1)
    return np.clip(scene, 0, 255).astype(np.uint8)


def _paste(scene: np.ndarray, picture: np.ndarray, x: float, y: float, height: float) -> tuple[float, float, float, float]:
    """Put ``picture`` at (x, y) (fractions of the scene), ``height`` of the scene tall; returns its box."""
    scene_h, scene_w = scene.shape[:2]
    target_h = max(8, int(height * scene_h))
    target_w = max(6, int(picture.shape[1] * target_h / picture.shape[0]))
    left, top = int(x * scene_w), int(y * scene_h)
    target_w, target_h = min(target_w, scene_w - left), min(target_h, scene_h - top)
    scene[top : top + target_h, left : left + target_w] = cv2.resize(picture, (target_w, target_h), interpolation=cv2.INTER_AREA)
    return left / scene_w, top / scene_h, target_w / scene_w, target_h / scene_h


def _save_camera_jpeg(pixels: np.ndarray, path: Path, date: str) -> None:
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x010F] = "trapblur example camera"
    exif[0x0132] = date
    exif.get_ifd(0x8769)[0x9003] = date  # DateTimeOriginal: what camtrapR and Timelapse read
    image.save(path, "JPEG", quality=90, exif=exif)
