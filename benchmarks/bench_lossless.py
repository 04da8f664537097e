"""Block-wise (lossless outside the blur) JPEG path against the core's re-encoding path. Figures, not a test.

    python benchmarks/bench_lossless.py [--repeat 5]

For a 3 MP and a 12 MP JPEG (the real camera-trap photographs in ../shared when present, else generated
ones) with one and two person boxes, single thread, best of ``--repeat``:

* lossless: ``codecs.encode_jpeg_blocks`` (read coefficients, decode the window, blur, re-code the touched
  blocks, write, metadata);
* reencode: ``decode_pixels`` + ``hide_regions`` + ``encode_like`` (Pillow with the source's tables);
* floor: pyjpegio reading and writing the coefficients unchanged (the entropy-coding cost of the library
  the lossless path uses, with nothing edited);
* sizes on disk of both outputs and of the input.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from trapblur.blur import hide_regions
from trapblur.codecs import decode_pixels, encode_jpeg_blocks, encode_like, inspect_image
from trapblur.options import BlurOptions
from trapblur.regions import regions_to_hide
from trapblur.results import Detection

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
REAL = {"3 MP": "animal_stn_african_elephants.jpg", "12 MP": "person_animlpy_B012_2021-05-27_human.jpg"}
SIZES = {"3 MP": (2048, 1536), "12 MP": (4032, 3024)}
BOXES = ([0.1, 0.3, 0.08, 0.3], [0.6, 0.35, 0.06, 0.22])  # two standing people, MegaDetector [x, y, w, h]


def generated(width: int, height: int) -> bytes:
    rng = np.random.default_rng(0)
    small = rng.integers(40, 200, (height // 64 + 2, width // 64 + 2, 3)).astype(np.uint8)
    scene = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    scene += rng.normal(0, 9, (height, width, 1)).astype(np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=92, subsampling=1)
    return buffer.getvalue()


def best_ms(function: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - start) * 1000)
    return min(times), result


def floor(data: bytes) -> Callable[[], int]:
    import jpegio

    def run() -> int:
        with tempfile.TemporaryDirectory() as folder:
            source, target = os.path.join(folder, "in.jpg"), os.path.join(folder, "out.jpg")
            Path(source).write_bytes(data)
            jpegio.read(source).write(target)
            return os.path.getsize(target)

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    options = BlurOptions()
    print(f"{'image':28} {'boxes':>5} {'lossless ms':>11} {'reencode ms':>11} {'speed-up':>8} "
          f"{'floor ms':>8} {'input KB':>8} {'lossless KB':>11} {'reencode KB':>11}")
    for label, name in REAL.items():
        path = SHARED / name
        data = path.read_bytes() if path.is_file() else generated(*SIZES[label])
        source = inspect_image(data)
        title = f"{label} {'real' if path.is_file() else 'generated'}"
        floor_ms, _ = best_ms(floor(data), args.repeat)
        for count in (1, 2):
            detections = [Detection("person", 0.9, tuple(box)) for box in BOXES[:count]]
            regions = regions_to_hide(detections, options, source.width, source.height, source.orientation)

            def lossless() -> bytes:
                return encode_jpeg_blocks(source, regions, options.method).data

            def reencode() -> bytes:
                pixels = decode_pixels(source)
                hide_regions(pixels.array, regions, options.method)
                return encode_like(source, pixels).data

            lossless_ms, lossless_out = best_ms(lossless, args.repeat)
            reencode_ms, reencode_out = best_ms(reencode, args.repeat)
            print(f"{title:28} {count:>5} {lossless_ms:>11.0f} {reencode_ms:>11.0f} "
                  f"{reencode_ms / lossless_ms:>7.2f}x {floor_ms:>8.0f} {len(data) / 1024:>8.0f} "
                  f"{len(lossless_out) / 1024:>11.0f} {len(reencode_out) / 1024:>11.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
