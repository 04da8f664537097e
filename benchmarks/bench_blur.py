"""Throughput and memory of `blur_dataset`, printed as figures (not a test: nothing here passes or fails).

    python benchmarks/bench_blur.py                 # all sections
    python benchmarks/bench_blur.py --only speed    # or: stages, memory

* speed: images/s through `blur_dataset` (2 workers), for each JPEG mode (lossless, the default, and
  reencode), for 3 MP and 12 MP JPEGs with one or two person boxes, and for images that are only copied.
  Targets on 2 cores: >= 45, >= 12 and >= 500 images/s. The JPEGs are made from a real 12 MP camera-trap
  photograph when ../shared is present (``--generated`` forces synthetic ones: noisier, harder to code).
* stages: single-thread milliseconds per image for decode, blur, encode and metadata, against the codec
  floor (libjpeg-turbo decode + encode of the same image with the same settings).
* memory: peak RSS of a run over 500 and 3,000 images, each in a fresh process: flat means streaming.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import trapblur
from trapblur.blur import hide_regions
from trapblur.codecs import decode_pixels, encode_like, inspect_image
from trapblur.options import BlurOptions
from trapblur.regions import regions_to_hide
from trapblur.results import Detection

BOXES = ([0.1, 0.3, 0.15, 0.5], [0.6, 0.35, 0.1, 0.3])  # people close to the camera: large boxes
HIKER = [0.3, 0.4, 0.06, 0.2]  # a typical camera-trap passer-by: 20% of the frame tall


def camera_like(width: int, height: int, seed: int) -> bytes:
    """A JPEG with the statistics of a camera-trap frame: smooth scene, texture, sensor noise, EXIF."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 200, (height // 64 + 2, width // 64 + 2, 3)).astype(np.uint8)
    scene = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    scene += rng.normal(0, 9, (height, width, 1)).astype(np.int16)
    image = Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0132] = "2024:05:01 06:12:30"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, exif=exif)
    return buffer.getvalue()


REAL_PHOTO = Path(__file__).resolve().parents[1].parent / "shared/data/images/person_animlpy_B012_2021-05-27_human.jpg"


def real_like(width: int, height: int, seed: int) -> bytes:
    """The real 12 MP camera-trap photograph, resized and shifted a little per seed, with its EXIF."""
    original = Image.open(REAL_PHOTO)
    image = original.convert("RGB").resize((width + seed * 8, height + seed * 6)).crop((seed * 8, seed * 6, width + seed * 8, height + seed * 6))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, exif=original.info.get("exif", b""))
    return buffer.getvalue()


def make_folder(root: Path, count: int, width: int, height: int, boxes: int, real: bool = False,
                hiker: bool = False) -> tuple[Path, Path]:
    images = root / f"{width}x{height}_{boxes}box_{count}{'_real' if real else ''}{'_hiker' if hiker else ''}"
    images.mkdir(parents=True, exist_ok=True)
    make = real_like if real else camera_like
    templates = [make(width, height, seed) for seed in range(min(count, 8))]
    entries = []
    for index in range(count):
        name = f"cam{index % 5}/IMG_{index:06d}.jpg"
        (images / name).parent.mkdir(exist_ok=True)
        (images / name).write_bytes(templates[index % len(templates)])
        chosen = [HIKER] if hiker else BOXES[:boxes]
        detections = [{"category": "2", "conf": 0.9, "bbox": box} for box in chosen]
        entries.append({"file": name, "detections": detections})
    results = root / f"{images.name}.json"
    results.write_text(json.dumps({"info": {"format_version": "1.5"},
                                   "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
                                   "images": entries}))
    return images, results


def speed(root: Path, real: bool) -> None:
    print(f"## speed: blur_dataset, 2 workers, {'real' if real else 'generated'} JPEGs (quality 92)")
    cases = [("3 MP, hiker", 2048, 1536, 1, 120, True), ("3 MP, 1 large", 2048, 1536, 1, 120, False),
             ("3 MP, 2 large", 2048, 1536, 2, 120, False), ("12 MP, hiker", 4000, 3000, 1, 40, True),
             ("12 MP, 1 large", 4000, 3000, 1, 40, False), ("12 MP, 2 large", 4000, 3000, 2, 40, False),
             ("3 MP, copy only", 2048, 1536, 0, 1000, False)]
    for label, width, height, boxes, count, hiker in cases:
        images, results = make_folder(root, count, width, height, boxes, real, hiker)
        figures = []
        for mode in ("lossless", "reencode") if boxes else ("lossless",):
            output = root / f"out_{images.name}_{mode}"
            started = time.perf_counter()
            report = trapblur.blur_dataset(images, results, output, workers=2, overwrite=True, jpeg_mode=mode)
            elapsed = time.perf_counter() - started
            assert report.ok, report.summary()
            figures.append(f"{mode} {count / elapsed:6.1f} images/s")
        print(f"{label:>16}: " + ", ".join(figures) + f"  ({count} images)")


def stages(root: Path) -> None:
    print("## stages: single thread, median ms per image")
    for label, width, height in (("3 MP", 2048, 1536), ("12 MP", 4000, 3000)):
        data = camera_like(width, height, 1)
        detections = [Detection("person", 0.9, tuple(b)) for b in BOXES]
        options = BlurOptions()
        timings: dict[str, list[float]] = {k: [] for k in ("inspect", "decode", "blur", "encode+metadata", "floor")}
        for _ in range(7):
            t0 = time.perf_counter()
            source = inspect_image(data)
            t1 = time.perf_counter()
            pixels = decode_pixels(source)
            t2 = time.perf_counter()
            hide_regions(pixels.array, regions_to_hide(detections, options, source.width, source.height), "gaussian")
            t3 = time.perf_counter()
            encode_like(source, pixels)
            t4 = time.perf_counter()
            array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            Image.fromarray(array).save(io.BytesIO(), "JPEG", **source.jpeg_settings)
            t5 = time.perf_counter()
            for key, value in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                value_ms = value * 1000
                timings[key].append(value_ms)
        medians = {k: float(np.median(v)) for k, v in timings.items()}
        total = sum(v for k, v in medians.items() if k != "floor")
        print(f"{label:>6}: " + ", ".join(f"{k} {v:.1f}" for k, v in medians.items())
              + f"; total {total:.1f} ms = {total / medians['floor']:.2f} x the decode+encode floor")


def memory(root: Path) -> None:
    print("## memory: peak RSS of one run in a fresh process")
    for count in (500, 3000):
        images, results = make_folder(root, count, 640, 480, 1)
        # VmHWM (Linux) is this process's own peak; ru_maxrss would include the forking parent's peak.
        code = (
            "import pathlib, resource, trapblur\n"
            f"trapblur.blur_dataset({str(images)!r}, {str(results)!r}, {str(root / ('mem_' + str(count)))!r}, workers=2, overwrite=True)\n"
            "status = pathlib.Path('/proc/self/status')\n"
            "lines = status.read_text().splitlines() if status.exists() else []\n"
            "peak = [int(l.split()[1]) for l in lines if l.startswith('VmHWM:')]\n"
            "print(peak[0] if peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        )
        completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        print(f"{count:>6} images (640x480, 1 box): peak RSS {int(completed.stdout.split()[-1]) / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("speed", "stages", "memory"))
    parser.add_argument("--generated", action="store_true", help="synthetic JPEGs even when ../shared is present")
    parser.add_argument("--workdir", type=Path, default=None, help="where to generate images (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        root = Path(folder)
        real = REAL_PHOTO.is_file() and not args.generated
        if args.only in (None, "stages"):
            stages(root)
        if args.only in (None, "speed"):
            speed(root, real)
        if args.only in (None, "memory"):
            memory(root)



if __name__ == "__main__":
    main()
