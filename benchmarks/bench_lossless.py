"""Block-wise (lossless outside the blur) JPEG path against the core's re-encoding path. Figures, not a test.

    python benchmarks/bench_lossless.py [--repeat 5]

For a 3 MP and a 12 MP JPEG (the real camera-trap photographs in ../shared when present, else generated
ones; ``--generated`` forces those) with one and two person boxes, single thread, best of ``--repeat``:

* turbo: ``codecs.encode_jpeg_blocks(backend="turbojpeg")``: libjpeg-turbo's tjTransform with the ctypes
  filter (decode window, blur, re-code the touched blocks), metadata;
* jpegio: the same with ``backend="pyjpegio"`` (read and write every coefficient through pyjpegio);
* reencode: ``decode_pixels`` + ``hide_regions`` + ``encode_like`` (Pillow with the source's tables);
* floors, the entropy-coding cost of each library with nothing edited: a plain lossless ``tjTransform``
  (no filter, no metadata) and pyjpegio reading and writing the coefficients;
* sizes on disk of the input and of each output.

``--cpu`` times CPU instead of wall clock. Columns for a back end whose library is missing show "nan"; speed-up is re-encoding's time over the
path ``jpeg_mode="lossless"`` takes (TurboJPEG where available). The paths take turns, ``--repeat`` times. The machine's load average is printed first
and last: other work on the machine slows every column.
"""

from __future__ import annotations

import argparse
import ctypes
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

from trapblur import jpeg_turbo
from trapblur.blur import hide_regions
from trapblur.codecs import decode_pixels, encode_jpeg_blocks, encode_like, inspect_image
from trapblur.options import BlurOptions
from trapblur.regions import regions_to_hide
from trapblur.results import Detection

CLOCK = time.perf_counter
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
    return interleaved({"f": function}, repeat)["f"]


def interleaved(functions: dict[str, Callable[[], object]], repeat: int) -> dict[str, tuple[float, object]]:
    """Best time (ms) and result of each function, run in turn ``repeat`` times: on a shared machine, load
    comes and goes, and taking turns gives every path the same chances."""
    best: dict[str, tuple[float, object]] = {}
    for _ in range(repeat):
        for name, function in functions.items():
            start = CLOCK()
            result = function()
            elapsed = (CLOCK() - start) * 1000
            if name not in best or elapsed < best[name][0]:
                best[name] = (elapsed, result)
    return best


def turbo_floor(data: bytes) -> Callable[[], int]:
    """A plain lossless tjTransform (what ``jpegtran -copy none`` does): libjpeg-turbo's entropy floor."""
    library = jpeg_turbo.load().library

    def run() -> int:
        transform = (jpeg_turbo._Transform * 1)()
        transform[0].options = jpeg_turbo.TJXOPT_COPYNONE
        buffers, sizes = (ctypes.POINTER(ctypes.c_ubyte) * 1)(), (ctypes.c_ulong * 1)()
        handle = library.tjInitTransform()
        try:
            if library.tjTransform(handle, data, len(data), 1, buffers, sizes, transform, 0) != 0:
                raise RuntimeError(library.tjGetErrorStr2(handle))
            return sizes[0]
        finally:
            if buffers[0]:
                library.tjFree(buffers[0])
            library.tjDestroy(handle)

    return run


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
    parser.add_argument("--generated", action="store_true", help="use generated images even where real ones exist")
    parser.add_argument("--cpu", action="store_true",
                        help="CPU time of this process instead of wall time (less disturbed by other work on a "
                             "shared machine); OpenCV is kept to one thread")
    args = parser.parse_args()
    if args.cpu:
        global CLOCK
        CLOCK = time.process_time
        cv2.setNumThreads(1)
    options = BlurOptions()
    turbo = jpeg_turbo.available()
    print(f"load average {os.getloadavg()}; TurboJPEG: "
          f"{jpeg_turbo.load().path + ' (' + jpeg_turbo.load().api + ' API)' if turbo else 'not available'}")
    print(f"{'image':20} {'boxes':>5} {'turbo ms':>8} {'jpegio ms':>9} {'reencode ms':>11} {'speed-up':>8} "
          f"{'tj floor':>8} {'jpegio floor':>12} {'input KB':>8} {'turbo KB':>8} {'jpegio KB':>9} {'reencode KB':>11}")
    for label, name in REAL.items():
        path = SHARED / name
        real = path.is_file() and not args.generated
        data = path.read_bytes() if real else generated(*SIZES[label])
        source = inspect_image(data)
        title = f"{label} {'real' if real else 'generated'}"
        floors = interleaved({"jpegio": floor(data), **({"turbo": turbo_floor(data)} if turbo else {})}, args.repeat)
        turbo_floor_ms = floors["turbo"][0] if turbo else float("nan")
        floor_ms = floors["jpegio"][0]
        for count in (1, 2):
            detections = [Detection("person", 0.9, tuple(box)) for box in BOXES[:count]]
            regions = regions_to_hide(detections, options, source.width, source.height, source.orientation)

            def blocks(backend: str) -> Callable[[], bytes]:
                return lambda: encode_jpeg_blocks(source, regions, options.method, backend).data

            def reencode() -> bytes:
                pixels = decode_pixels(source)
                hide_regions(pixels.array, regions, options.method)
                return encode_like(source, pixels).data

            paths = {"pyjpegio": blocks("pyjpegio"), "reencode": reencode}
            if turbo:
                paths["turbojpeg"] = blocks("turbojpeg")
            timed = interleaved(paths, args.repeat)
            turbo_ms, turbo_out = timed.get("turbojpeg", (float("nan"), b""))
            jpegio_ms, jpegio_out = timed["pyjpegio"]
            reencode_ms, reencode_out = timed["reencode"]
            fastest = turbo_ms if turbo else jpegio_ms  # what jpeg_mode="lossless" takes
            print(f"{title:20} {count:>5} {turbo_ms:>8.0f} {jpegio_ms:>9.0f} {reencode_ms:>11.0f} "
                  f"{reencode_ms / fastest:>7.2f}x {turbo_floor_ms:>8.0f} {floor_ms:>12.0f} {len(data) / 1024:>8.0f} "
                  f"{len(turbo_out) / 1024 if turbo else float('nan'):>8.0f} {len(jpegio_out) / 1024:>9.0f} "
                  f"{len(reencode_out) / 1024:>11.0f}")
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
