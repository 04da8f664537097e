"""`trapblur blur` on a large generated dataset whose results have 1% malformed entries.

What it checks (and prints): the run finishes with exit status 1 (some images failed), every image with a
good entry is written (blurred or copied), every image with a malformed entry is listed as failed and not
written, every entry too broken to name a file is listed as malformed (and its image withheld), and how long
it took: wall time and the CPU time of the trapblur process.

    python benchmarks/bench_malformed.py                 # 50,000 entries, 1% malformed, 64x48 JPEGs
    python benchmarks/bench_malformed.py --entries 5000 --workers 2

The folder is generated in a temporary directory (removed afterwards unless --keep).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

PER_FOLDER = 500
PERSON = {"category": "2", "conf": 0.9, "bbox": [0.25, 0.2, 0.4, 0.6]}

#: Ways one entry can be malformed, cycled through; the last two name no usable file.
MALFORMED = (
    ("null bbox", lambda f: {"file": f, "detections": [{**PERSON, "bbox": None}]}),
    ("text conf", lambda f: {"file": f, "detections": [{**PERSON, "conf": "0.9"}]}),
    ("unknown category", lambda f: {"file": f, "detections": [{**PERSON, "category": "9"}]}),
    ("detections not a list", lambda f: {"file": f, "detections": "none"}),
    ("three-number bbox", lambda f: {"file": f, "detections": [{**PERSON, "bbox": [0.1, 0.1, 0.2]}]}),
    ("NaN bbox", lambda f: {"file": f, "detections": [{**PERSON, "bbox": [0.1, float("nan"), 0.2, 0.2]}]}),
    ("negative width", lambda f: {"file": f, "detections": [{**PERSON, "bbox": [0.1, 0.1, -0.2, 0.2]}]}),
    ("file missing", lambda f: {"detections": []}),
    ("file not text", lambda f: {"file": 12345, "detections": []}),
)
NAMELESS = {"file missing", "file not text"}


def jpegs(count: int, width: int, height: int) -> list[bytes]:
    """A few distinct small camera-like JPEGs."""
    out = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def generate(root: Path, entries: int, fraction: float, width: int, height: int) -> tuple[Path, dict[str, str]]:
    """Write the images and the results; return the results path and each file's expected fate."""
    images = root / "cameras"
    samples = jpegs(16, width, height)
    every = max(1, round(1 / fraction)) if fraction > 0 else entries + 1
    listed, expected = [], {}
    for index in range(entries):
        relative = f"site{index // PER_FOLDER:03d}/IMG_{index % PER_FOLDER:04d}.JPG"
        path = images / relative
        if index % PER_FOLDER == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(samples[index % len(samples)])
        if index % every == every // 2:
            kind, make = MALFORMED[(index // every) % len(MALFORMED)]
            listed.append(make(relative))
            expected[relative] = "withheld" if kind in NAMELESS else "failed"
        elif index % 10 == 3:
            listed.append({"file": relative, "detections": [PERSON]})
            expected[relative] = "blurred"
        else:
            listed.append({"file": relative, "detections": []})
            expected[relative] = "copied"
    results = root / "md_results.json"
    document = {"info": {"format_version": "1.5", "detector": "generated"},
                "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"}, "images": listed}
    results.write_text(json.dumps(document))  # NaN is written as JSON's common NaN extension
    return results, expected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--malformed-fraction", type=float, default=0.01)
    parser.add_argument("--size", default="64x48", help="image size WxH (default 64x48)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated folder and print where it is")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    with tempfile.TemporaryDirectory(prefix="trapblur-bench-malformed-") as temporary:
        root = Path(temporary)
        started = time.perf_counter()
        results, expected = generate(root, args.entries, args.malformed_fraction, width, height)
        print(f"generated {args.entries} images of {width}x{height} and their results in "
              f"{time.perf_counter() - started:.1f} s")
        output = root / "shareable"
        command = [sys.executable, "-m", "trapblur", "blur", str(root / "cameras"), "--results", str(results),
                   "--out", str(output), "-q"]
        if args.workers:
            command += ["--workers", str(args.workers)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        run = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(run.stdout, end="")
        if run.returncode not in (0, 1):
            print(run.stderr, file=sys.stderr)
            return 2

        with (output / "trapblur_report.csv").open(newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
        action = {row["input"]: row["action"] for row in rows}
        malformed_rows = [row for row in rows if row["action"] == "malformed"]
        problems = []
        for relative, fate in expected.items():
            written = (output / relative).is_file()
            if action.get(relative) != fate:
                problems.append(f"{relative}: expected {fate}, got {action.get(relative)}")
            elif written != (fate in ("blurred", "copied")):
                problems.append(f"{relative}: {fate} but {'written' if written else 'not written'}")
        nameless = sum(1 for fate in expected.values() if fate == "withheld")
        if len(malformed_rows) != nameless:
            problems.append(f"{len(malformed_rows)} malformed rows for {nameless} nameless entries")
        bad = sum(1 for fate in expected.values() if fate in ("failed", "withheld"))
        good = len(expected) - bad
        print(f"\nexit status {run.returncode} (expected 1); {good} good entries, {bad} malformed "
              f"({nameless} of them name no file)")
        print(f"wall time {wall:.1f} s, trapblur CPU time {cpu:.1f} s, {len(expected) / wall:.0f} entries/s")
        if problems or run.returncode != 1:
            print(f"FAILED: {len(problems)} problems, e.g.", *problems[:10], sep="\n  ")
            return 1
        print("OK: every good image written, every malformed entry listed, none of their images written")
        if args.keep:
            kept = Path(tempfile.mkdtemp(prefix="trapblur-bench-kept-"))
            subprocess.run(["cp", "-a", str(root) + "/.", str(kept)], check=True)
            print(f"kept in {kept}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
