"""Issue 9's targets, measured and checked in one run. Figures, not a test: it prints, it never fails.

    python benchmarks/bench_issue9.py                  # everything (~10-20 min on 2 busy cores)
    python benchmarks/bench_issue9.py --only images    # or: stages, megadetector, memory, copies
    python benchmarks/bench_issue9.py --rounds 5 --rss-counts 100,2000 --workdir /big/disk

Sections (each prints its figures, then one line per target: MET / NOT MET):

* images: one image at a time on one thread, the default ``jpeg_mode="lossless"`` path (as the batch
  takes it, cost model included: the ``encoding`` column says which path was taken) against
  ``"reencode"``, on the real photographs in ../shared/data/images and on photographs generated at 3 and
  12 MP (from a real 12 MP camera-trap frame) with a person box of 2%, 20% and 80% of the frame.
  Medians of CPU time and of wall time; the two paths take turns. Targets: lossless never costlier than
  re-encoding (CPU medians), and >= 1.3x faster where the boxes cover under 10% of the frame.
* stages: where each path's time goes (entropy decode/encode, DCT, blur, colour conversion, metadata),
  next to libjpeg-turbo's own floor for each stage, measured through the TurboJPEG API (entropy decode =
  decode to coefficients; IDCT = decode to YUV - that; colour = decode to RGB - decode to YUV; entropy
  encode = lossless transform - entropy decode; FDCT and encoder colour from compressing YUV and RGB).
* megadetector: ``trapblur blur`` (defaults) against MegaDetector's own blur tool
  (``separate_detections_into_folders --category_names_to_blur person --n_threads 2``, the same threshold)
  on a mix of the real photographs and generated ones, same images and results, alternating, each run in
  a fresh process and output folder. MegaDetector's tool is installed from the registry into its own
  virtual environment (``megadetector-utils``: no torch; constrained by requirements/detect-cpu.txt all the
  same) under ``--md-venv`` (default ~/.cache/trapblur-bench/megadetector). Target: >= 2x images/s.
* memory: peak RSS (VmHWM) of ``blur_dataset`` with 2 workers on 12 MP photographs with large boxes, for
  each of ``--rss-counts`` images, each in a fresh process. Targets: <= 250 MB, flat (within 10%).
* copies: images with nothing to blur, copied by ``blur_dataset`` (2 workers). Target: >= 500 images/s.

The machine's load average is printed at the start and end of each section: on a shared machine other
work slows every figure, CPU time less than wall time. Timings are medians of ``--rounds`` turns.
"""

from __future__ import annotations

import argparse
import ctypes
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import trapblur
from PIL import Image
from threadpoolctl import threadpool_limits
from trapblur import jpeg_lossless, jpeg_turbo
from trapblur.blur import hide_regions
from trapblur.codecs import (
    decode_pixels,
    encode_jpeg_blocks,
    encode_like,
    inspect_image,
)
from trapblur.jpeg_blocks import BlockPlan, edit_for, read_block_layout
from trapblur.options import BlurOptions
from trapblur.regions import regions_to_hide
from trapblur.results import Detection
from trapblur.single import hide_and_encode

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SOURCE_PHOTO = SHARED / "images" / "person_animlpy_B012_2021-05-27_human.jpg"
SIZES = {"3 MP": (2048, 1536), "12 MP": (4000, 3000)}
# Person boxes (MegaDetector [x, y, w, h]) covering 2%, 20% and 80% of the frame.
BOX_AREAS = {"2%": [0.45, 0.4, 0.1, 0.2], "20%": [0.3, 0.2, 0.316, 0.632], "80%": [0.05, 0.05, 0.894, 0.894]}
REAL_BOXES = {  # boxes of the real photographs, as in ../shared/data/md/shared_images.md.json
    "person_animlr_Peru_S90_SDZG2_EK000008.JPG": [[0.0, 0.0, 1.0, 0.96], [0.635, 0.16, 0.13, 0.16]],
    "person_animlpy_B012_2021-05-27_human.jpg": [[0.02, 0.677, 0.33, 0.319]],
    "hard_animlr_Peru_S90_SDZG1_EK000002.JPG": [[0.0, 0.0, 1.0, 0.95]],
    "animal_stn_african_elephants.jpg": [[0.34, 0.44, 0.08, 0.09]],
    "animal_stn_african_elephants_with_exif_orientation.jpg": [[0.56, 0.42, 0.09, 0.16]],
    "animal_md_idaho-camera-traps.jpg": [[0.3, 0.35, 0.35, 0.4]],
    "vehicle_stn_vehicle.jpg": [[0.0, 0.02, 1.0, 0.68]],
}
RESULTS_LINE: list[str] = []


def verdict(label: str, met: bool, detail: str) -> None:
    line = f"TARGET {'MET    ' if met else 'NOT MET'} {label}: {detail}"
    RESULTS_LINE.append(line)
    print(line)


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def photograph(width: int, height: int, seed: int) -> bytes:
    """A real 12 MP camera-trap frame, resized and shifted a little per seed, with its EXIF."""
    original = Image.open(SOURCE_PHOTO)
    image = original.convert("RGB").resize((width + seed * 8, height + seed * 6))
    image = image.crop((seed * 8, seed * 6, width + seed * 8, height + seed * 6))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, exif=original.info.get("exif", b""))
    return buffer.getvalue()


@dataclass(frozen=True)
class Case:
    label: str
    data: bytes
    boxes: list[list[float]]

    @property
    def coverage(self) -> float:
        """Fraction of the frame under the (unpadded) boxes, overlaps counted once on a coarse grid."""
        grid = np.zeros((200, 200), bool)
        for x, y, w, h in self.boxes:
            grid[int(y * 200) : int(np.ceil((y + h) * 200)), int(x * 200) : int(np.ceil((x + w) * 200))] = True
        return float(grid.mean())


def cases(only: str = "") -> list[Case]:
    found = []
    for name, boxes in REAL_BOXES.items():
        if only and only not in name:
            continue
        path = SHARED / "images" / name
        if path.is_file():
            found.append(Case(f"real {name[:34]}", path.read_bytes(), boxes))
    if SOURCE_PHOTO.is_file() and not only:
        for size, (width, height) in SIZES.items():
            data = photograph(width, height, 1)
            for area, box in BOX_AREAS.items():
                found.append(Case(f"generated {size}, box {area}", data, [box]))
    return found


def timed(functions: dict[str, Callable[[], object]], rounds: int) -> dict[str, tuple[float, float, object]]:
    """Median CPU ms, median wall ms and the last result of each function, the functions taking turns."""
    cpu: dict[str, list[float]] = {k: [] for k in functions}
    wall: dict[str, list[float]] = {k: [] for k in functions}
    last: dict[str, object] = {}
    for _ in range(rounds):
        for name, function in functions.items():
            c, w = time.process_time(), time.perf_counter()
            last[name] = function()
            cpu[name].append((time.process_time() - c) * 1000)
            wall[name].append((time.perf_counter() - w) * 1000)
    return {k: (statistics.median(cpu[k]), statistics.median(wall[k]), last[k]) for k in functions}


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


# ----------------------------------------------------------------------------------------------------------
# images


def section_images(rounds: int) -> None:
    print(f"\n## images: one image, one thread, median CPU (wall) ms over {rounds} turns; {load()}")
    print(f"{'case':46} {'cover':>5} {'lossless':>15} {'reencode':>15} {'speed-up':>8}  encoding taken")
    options = BlurOptions()
    worst, small = [], []
    for case in cases():
        source = inspect_image(case.data)
        detections = [Detection("person", 0.9, tuple(box)) for box in case.boxes]
        regions = regions_to_hide(detections, options, source.width, source.height, source.orientation)

        def default(data: bytes = case.data, regions: list = regions) -> str:
            return hide_and_encode(inspect_image(data), regions, options.method, "lossless")[1]

        def reencode(data: bytes = case.data, regions: list = regions) -> str:
            return hide_and_encode(inspect_image(data), regions, options.method, "reencode")[1]

        result = timed({"lossless": default, "reencode": reencode}, rounds)
        (lc, lw, taken), (rc, rw, _) = result["lossless"], result["reencode"]
        ratio = rc / lc
        worst.append(ratio)
        if case.coverage < 0.10:
            small.append(ratio)
        print(f"{case.label:46} {case.coverage:>5.0%} {lc:>7.0f} ({lw:>5.0f}) {rc:>7.0f} ({rw:>5.0f}) {ratio:>7.2f}x  {taken}")
    print(load())
    verdict("lossless never costlier than re-encoding", min(worst) >= 1.0,
            f"speed-up over re-encoding (CPU medians) {spread(worst)} on {len(worst)} images")
    verdict(">= 1.3x faster when boxes cover < 10%", bool(small) and min(small) >= 1.3,
            f"speed-up {spread(small) if small else 'n/a'} on {len(small)} images")


# ----------------------------------------------------------------------------------------------------------
# stages


class Turbo:
    """The TurboJPEG calls that measure libjpeg-turbo's own floor, stage by stage."""

    def __init__(self) -> None:
        self.lib = jpeg_turbo.load().library
        lib = self.lib
        lib.tjInitDecompress.restype = lib.tjInitCompress.restype = ctypes.c_void_p
        lib.tjDecompressHeader3.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong] + [
            ctypes.POINTER(ctypes.c_int)] * 4
        lib.tjDecompress2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p,
                                      ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.tjDecompressToYUV2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p,
                                           ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.tjCompress2.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                    ctypes.c_int, ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)),
                                    ctypes.POINTER(ctypes.c_ulong), ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.tjCompressFromYUV.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                          ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)),
                                          ctypes.POINTER(ctypes.c_ulong), ctypes.c_int, ctypes.c_int]
        lib.tjBufSizeYUV2.restype = ctypes.c_ulong
        lib.tjDestroy.argtypes = [ctypes.c_void_p]

    def transform(self, data: bytes, output: bool) -> None:
        transform = (jpeg_turbo._Transform * 1)()
        transform[0].options = jpeg_turbo.TJXOPT_COPYNONE | (0 if output else jpeg_turbo.TJXOPT_NOOUTPUT)
        buffers, sizes = (ctypes.POINTER(ctypes.c_ubyte) * 1)(), (ctypes.c_ulong * 1)()
        handle = self.lib.tjInitTransform()
        try:
            if self.lib.tjTransform(handle, data, len(data), 1, buffers, sizes, transform, 0) != 0:
                raise RuntimeError(self.lib.tjGetErrorStr2(handle))
        finally:
            if buffers[0]:
                self.lib.tjFree(buffers[0])
            self.lib.tjDestroy(handle)

    def header(self, data: bytes) -> tuple[int, int, int]:
        handle = self.lib.tjInitDecompress()
        w, h, sub, space = ctypes.c_int(), ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        self.lib.tjDecompressHeader3(handle, data, len(data), w, h, sub, space)
        self.lib.tjDestroy(handle)
        return w.value, h.value, sub.value

    def decode(self, data: bytes, yuv: bool) -> ctypes.Array:
        width, height, sub = self.header(data)
        handle = self.lib.tjInitDecompress()
        try:
            if yuv:
                out = (ctypes.c_ubyte * self.lib.tjBufSizeYUV2(width, 4, height, sub))()
                status = self.lib.tjDecompressToYUV2(handle, data, len(data), out, width, 4, height, 0)
            else:
                out = (ctypes.c_ubyte * (width * height * 3))()
                status = self.lib.tjDecompress2(handle, data, len(data), out, width, 0, height, 0, 0)
            if status != 0:
                raise RuntimeError(self.lib.tjGetErrorStr2(handle))
            return out
        finally:
            self.lib.tjDestroy(handle)

    def encode(self, data: bytes, pixels: ctypes.Array, yuv: bool) -> None:
        width, height, sub = self.header(data)
        handle = self.lib.tjInitCompress()
        buffer, size = ctypes.POINTER(ctypes.c_ubyte)(), ctypes.c_ulong()
        try:
            if yuv:
                status = self.lib.tjCompressFromYUV(handle, pixels, width, 4, height, sub, buffer, size, 92, 0)
            else:
                status = self.lib.tjCompress2(handle, pixels, width, 0, height, 0, buffer, size, sub, 92, 0)
            if status != 0:
                raise RuntimeError(self.lib.tjGetErrorStr2(handle))
        finally:
            if buffer:
                self.lib.tjFree(buffer)
            self.lib.tjDestroy(handle)


def floor_stages(turbo: Turbo, data: bytes, rounds: int) -> dict[str, float]:
    yuv, rgb = turbo.decode(data, True), turbo.decode(data, False)
    t = timed({
        "coefficients": lambda: turbo.transform(data, False), "transform": lambda: turbo.transform(data, True),
        "yuv": lambda: turbo.decode(data, True), "rgb": lambda: turbo.decode(data, False),
        "enc_yuv": lambda: turbo.encode(data, yuv, True), "enc_rgb": lambda: turbo.encode(data, rgb, False),
    }, rounds)
    c = {k: v[0] for k, v in t.items()}
    entropy_encode = max(c["transform"] - c["coefficients"], 0.0)
    return {
        "entropy decode": c["coefficients"], "IDCT": max(c["yuv"] - c["coefficients"], 0.0),
        "colour (decode)": max(c["rgb"] - c["yuv"], 0.0), "colour (encode)": max(c["enc_rgb"] - c["enc_yuv"], 0.0),
        "FDCT": max(c["enc_yuv"] - entropy_encode, 0.0), "entropy encode": entropy_encode,
        "transform": c["transform"], "decode+encode": c["rgb"] + c["enc_rgb"],
    }


def lossless_stages(data: bytes, regions: list, rounds: int) -> dict[str, float]:
    """The block-wise path's stages, by timing the plan's parts inside one real edit."""
    layout = read_block_layout(data)
    edits = [e for e in (edit_for(r, layout) for r in regions) if not e[1].empty]
    spent = {"blur": 0.0, "DCT": 0.0}

    def timed_plan() -> BlockPlan:
        plan, _ = jpeg_lossless.plan_edit(layout, edits, "gaussian")

        def recode(planes, dc):  # type: ignore[no-untyped-def]
            start = time.process_time()
            new_blocks = plan.recode(planes, dc)
            spent["blur"] += time.process_time() - start

            def blocks(component: int, row: int, edit: int) -> np.ndarray:
                start = time.process_time()
                result = new_blocks(component, row, edit)
                spent["DCT"] += time.process_time() - start
                return result

            return blocks

        return replace(plan, recode=recode)

    source = inspect_image(data)
    runs = timed({
        "edit": lambda: jpeg_turbo.edit_blocks(data, layout, timed_plan(), keep_restart_interval=True),
        "whole": lambda: encode_jpeg_blocks(source, regions, "gaussian"),
        "edit_api": lambda: jpeg_lossless.edit_jpeg_blocks(data, regions, "gaussian"),
        "inspect": lambda: inspect_image(data),
    }, rounds)
    blur, dct = spent["blur"] * 1000 / rounds, spent["DCT"] * 1000 / rounds
    return {"edit": runs["edit"][0], "blur": blur, "DCT": dct, "inspect": runs["inspect"][0],
            "metadata": max(runs["whole"][0] - runs["edit_api"][0], 0.0) + runs["inspect"][0],
            "planning": max(runs["edit_api"][0] - runs["edit"][0], 0.0), "total": runs["whole"][0] + runs["inspect"][0]}


def reencode_stages(data: bytes, regions: list, rounds: int) -> dict[str, float]:
    source = inspect_image(data)
    pixels = decode_pixels(source)
    from trapblur.codecs import _encode_jpeg

    runs = timed({
        "inspect": lambda: inspect_image(data), "decode": lambda: decode_pixels(source),
        "blur": lambda: hide_regions(pixels.array.copy(), regions, "gaussian"), "copy": lambda: pixels.array.copy(),
        "encode": lambda: _encode_jpeg(source, pixels), "encode_like": lambda: encode_like(source, pixels),
    }, rounds)
    c = {k: v[0] for k, v in runs.items()}
    return {"decode": c["decode"], "blur": max(c["blur"] - c["copy"], 0.0), "encode": c["encode"],
            "metadata": max(c["encode_like"] - c["encode"], 0.0) + c["inspect"],
            "total": c["inspect"] + c["decode"] + max(c["blur"] - c["copy"], 0.0) + c["encode_like"]}


def section_stages(rounds: int, only: str = "") -> None:
    if not jpeg_turbo.available():
        print("\n## stages: skipped (libturbojpeg not available)")
        return
    print(f"\n## stages: median CPU ms per image, one thread; {load()}")
    turbo = Turbo()
    options = BlurOptions()
    for case in cases(only):
        source = inspect_image(case.data)
        detections = [Detection("person", 0.9, tuple(box)) for box in case.boxes]
        regions = regions_to_hide(detections, options, source.width, source.height, source.orientation)
        floor = floor_stages(turbo, case.data, rounds)
        lossless = lossless_stages(case.data, regions, rounds)
        reencode = reencode_stages(case.data, regions, rounds)
        filter_overhead = max(lossless["edit"] - floor["transform"] - lossless["blur"] - lossless["DCT"], 0.0)
        print(f"{case.label} ({case.coverage:.0%} of the frame)")
        print(f"   libjpeg-turbo floor: entropy decode {floor['entropy decode']:.1f}, IDCT {floor['IDCT']:.1f}, "
              f"colour+upsampling {floor['colour (decode)']:.1f} | colour+downsampling {floor['colour (encode)']:.1f}, "
              f"FDCT {floor['FDCT']:.1f}, entropy encode {floor['entropy encode']:.1f}")
        print(f"   lossless: entropy decode+encode {floor['transform']:.1f} (the transform), blur from block means "
              f"+ gamut clip {lossless['blur']:.1f}, DCT (coefficients of the blurred area) {lossless['DCT']:.1f}, "
              f"filter calls and block copies {filter_overhead:.1f}, planning {lossless['planning']:.1f}, "
              f"headers+metadata+previews {lossless['metadata']:.1f}; total {lossless['total']:.1f} = "
              f"{lossless['total'] / floor['transform']:.2f}x the transform floor")
        print(f"   reencode: decode (entropy+IDCT+colour) {reencode['decode']:.1f}, blur {reencode['blur']:.1f}, "
              f"encode (colour+FDCT+entropy) {reencode['encode']:.1f}, headers+metadata+previews "
              f"{reencode['metadata']:.1f}; total {reencode['total']:.1f} = "
              f"{reencode['total'] / floor['decode+encode']:.2f}x libjpeg-turbo's decode+encode ({floor['decode+encode']:.1f})")
    print(load())


# ----------------------------------------------------------------------------------------------------------
# megadetector


def md_python(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if python.is_file() and subprocess.run([python, "-c", "import megadetector.postprocessing"], check=False,
                                           capture_output=True).returncode == 0:
        return python
    print(f"installing megadetector-utils into {venv} (once; pip from the registry, no torch)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-c", str(REPO / "requirements" / "detect-cpu.txt"), "megadetector-utils"], check=True)
    return python


def make_mix(root: Path, copies: int) -> tuple[Path, Path, int, int]:
    """The real photographs with their boxes, plus generated 3 and 12 MP ones (half with a person)."""
    images = root / "mix"
    images.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, boxes in REAL_BOXES.items():
        path = SHARED / "images" / name
        if path.is_file():
            shutil.copyfile(path, images / name)
            category = "3" if name.startswith("vehicle") else "2"
            entries.append({"file": name, "detections": [{"category": category, "conf": 0.9, "bbox": b} for b in boxes]})
    for name in ("empty_stn_blank.jpg",):
        if (SHARED / "images" / name).is_file():
            shutil.copyfile(SHARED / "images" / name, images / name)
            entries.append({"file": name, "detections": []})
    seed = 0
    for size, (width, height) in SIZES.items():
        for area, box in BOX_AREAS.items():
            for _ in range(copies):
                seed += 1
                for kind in ("person", "animal"):
                    name = f"gen_{size.replace(' ', '')}_{area.rstrip('%')}pct_{kind}_{seed}.jpg"
                    (images / name).write_bytes(photograph(width, height, seed % 7))
                    category = "2" if kind == "person" else "1"
                    entries.append({"file": name, "detections": [{"category": category, "conf": 0.9, "bbox": box}]})
    results = root / "mix.json"
    results.write_text(json.dumps({"info": {"format_version": "1.4", "detector": "benchmark boxes"},
                                   "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
                                   "images": entries}))
    people = sum(any(d["category"] == "2" for d in e["detections"]) for e in entries)
    return images, results, len(entries), people


def run_timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, children) of a command run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode not in (0, 1):
        raise RuntimeError(f"{command[:3]} failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def section_megadetector(root: Path, rounds: int, venv: Path, copies: int) -> None:
    print(f"\n## megadetector: trapblur blur (defaults) against MegaDetector's blur tool; {load()}")
    python = md_python(venv)
    version = subprocess.run([python, "-m", "pip", "show", "megadetector-utils"], capture_output=True, text=True, check=False)
    version_line = next((l for l in version.stdout.splitlines() if l.startswith("Version")), "Version: ?")
    images, results, count, people = make_mix(root, copies)
    print(f"mix: {count} images ({people} with a person; real photographs from ../shared and generated 3 and "
          f"12 MP ones with boxes of 2/20/80% of the frame); megadetector-utils {version_line.split(': ')[-1]}")
    def command(name: str, output: Path) -> list[str]:
        if name == "trapblur":
            return [sys.executable, "-m", "trapblur", "blur", str(images), "--results", str(results), "--out",
                    str(output), "-q"]
        return [str(python), "-m", "megadetector.postprocessing.separate_detections_into_folders", str(results),
                str(images), str(output), "--category_names_to_blur", "person", "--n_threads", "2",
                "--threshold", "0.1"]

    figures: dict[str, list[tuple[float, float]]] = {"trapblur": [], "megadetector": []}
    for turn in range(rounds):
        for name in ("trapblur", "megadetector") if turn % 2 == 0 else ("megadetector", "trapblur"):
            output = root / f"out_{name}_{turn}"
            figures[name].append(run_timed(command(name, output)))
            shutil.rmtree(output, ignore_errors=True)
    wall = {k: statistics.median(w for w, _ in v) for k, v in figures.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in figures.items()}
    walls = {k: ", ".join(f"{w:.2f}" for w, _ in v) for k, v in figures.items()}
    for name in figures:
        print(f"{name:>12}: {count / wall[name]:6.1f} images/s (median wall {wall[name]:.2f} s: {walls[name]}; "
              f"CPU {cpu[name]:.2f} s, {count / cpu[name]:.1f} images per CPU-second)")
    print(load())
    ratio_wall, ratio_cpu = wall["megadetector"] / wall["trapblur"], cpu["megadetector"] / cpu["trapblur"]
    verdict(">= 2x MegaDetector's blur tool", min(ratio_wall, ratio_cpu) >= 2.0,
            f"{ratio_wall:.2f}x in images/s (wall), {ratio_cpu:.2f}x in CPU time, {count} images, {rounds} turns each")


# ----------------------------------------------------------------------------------------------------------
# memory and copies


def peak_rss_mb(images: Path, results: Path, output: Path, workers: int = 2) -> tuple[float, float]:
    code = (
        "import pathlib, sys, time, trapblur\n"
        "started = time.perf_counter()\n"
        f"report = trapblur.blur_dataset({str(images)!r}, {str(results)!r}, {str(output)!r}, workers={workers}, overwrite=True)\n"
        "elapsed = time.perf_counter() - started\n"
        "assert report.ok, report.summary()\n"
        "lines = pathlib.Path('/proc/self/status').read_text().splitlines()\n"
        "print([int(l.split()[1]) for l in lines if l.startswith('VmHWM:')][0], elapsed)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak, elapsed = completed.stdout.split()[-2:]
    return int(peak) / 1024, float(elapsed)


def linked_folder(root: Path, name: str, templates: list[bytes], count: int, boxes: list[list[float]]) -> tuple[Path, Path]:
    """``count`` images in camera folders, hard links to a few templates (no disk for the copies)."""
    images = root / name
    images.mkdir(parents=True)
    sources = []
    for index, data in enumerate(templates):
        path = root / f"{name}_template_{index}.jpg"
        path.write_bytes(data)
        sources.append(path)
    entries = []
    for index in range(count):
        relative = f"cam{index % 5}/IMG_{index:06d}.jpg"
        (images / relative).parent.mkdir(exist_ok=True)
        os.link(sources[index % len(sources)], images / relative)
        entries.append({"file": relative, "detections": [{"category": "2", "conf": 0.9, "bbox": b} for b in boxes]})
    results = root / f"{name}.json"
    results.write_text(json.dumps({"info": {"format_version": "1.4"},
                                   "detection_categories": {"1": "animal", "2": "person"}, "images": entries}))
    return images, results


def section_memory(root: Path, counts: list[int]) -> None:
    print(f"\n## memory: peak RSS, blur_dataset, 2 workers, 12 MP photographs with large boxes; {load()}")
    templates = [photograph(4000, 3000, seed) for seed in range(4)]
    boxes = [[0.05, 0.05, 0.5, 0.9], [0.6, 0.3, 0.35, 0.6]]  # two people near the camera
    peaks = []
    for count in counts:
        images, results = linked_folder(root, f"rss_{count}", templates, count, boxes)
        output = root / f"rss_out_{count}"
        peak, elapsed = peak_rss_mb(images, results, output)
        peaks.append(peak)
        print(f"{count:>6} images: peak RSS {peak:.0f} MiB ({count / elapsed:.1f} images/s)")
        shutil.rmtree(output, ignore_errors=True)
        shutil.rmtree(images, ignore_errors=True)
    print(load())
    verdict("peak RSS <= 250 MB with 2 workers", max(peaks) * 1.048576 <= 250,
            ", ".join(f"{c}: {p * 1.048576:.0f} MB" for c, p in zip(counts, peaks)))
    verdict("peak RSS flat with the number of images", max(peaks) <= 1.1 * min(peaks),
            f"{min(peaks):.0f}-{max(peaks):.0f} MiB over {counts[0]}-{counts[-1]} images")


def section_copies(root: Path, count: int, rounds: int) -> None:
    print(f"\n## copies: images with nothing to blur, blur_dataset, 2 workers; {load()}")
    templates = [photograph(2048, 1536, seed) for seed in range(4)]
    images, results = linked_folder(root, "copies", templates, count, [])
    rates = []
    for turn in range(rounds):
        output = root / f"copies_out_{turn}"
        started = time.perf_counter()
        report = trapblur.blur_dataset(images, results, output, workers=2)
        rates.append(count / (time.perf_counter() - started))
        assert report.ok and report.counts["copied"] == count, report.summary()
        shutil.rmtree(output, ignore_errors=True)
    print(f"{count} images of 3 MP ({len(templates[0]) / 1e6:.1f} MB each): " + ", ".join(f"{r:.0f}" for r in rates)
          + " images/s")
    print(load())
    verdict(">= 500 images/s copying unchanged images", min(rates) >= 500, f"{min(rates):.0f}-{max(rates):.0f} images/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("images", "stages", "megadetector", "memory", "copies"), action="append")
    parser.add_argument("--rounds", type=int, default=5, help="turns per contender (medians are printed)")
    parser.add_argument("--rss-counts", default="100,2000", help="image counts for the memory section")
    parser.add_argument("--copies", type=int, default=3, help="generated images per size, box and kind in the mix")
    parser.add_argument("--md-venv", type=Path, default=Path.home() / ".cache" / "trapblur-bench" / "megadetector")
    parser.add_argument("--case", default="", help="stages: only the real photographs whose name contains this")
    parser.add_argument("--workdir", type=Path, default=None, help="where to write images (default: a temp dir)")
    args = parser.parse_args()
    if not SOURCE_PHOTO.is_file():
        print(f"{SOURCE_PHOTO} is missing: this benchmark needs ../shared/data/images")
        return 1
    sections = args.only or ["images", "stages", "megadetector", "memory", "copies"]
    turbo = jpeg_turbo.load().path if jpeg_turbo.available() else "not available"
    print(f"trapblur {trapblur.__version__}; TurboJPEG: {turbo}; {os.cpu_count()} CPUs; {load()}")
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="bench-issue9-") as folder, \
            threadpool_limits(limits=1, user_api="blas"):
        root = Path(folder)
        if "images" in sections:
            section_images(args.rounds)
        if "stages" in sections:
            section_stages(args.rounds, args.case)
        if "megadetector" in sections:
            section_megadetector(root, max(3, args.rounds), args.md_venv, args.copies)
        if "memory" in sections:
            section_memory(root, [int(c) for c in args.rss_counts.split(",")])
        if "copies" in sections:
            section_copies(root, 2000, 3)
    print("\n## summary")
    for line in RESULTS_LINE:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
