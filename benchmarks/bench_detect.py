"""Images/s of trapblur.detect with the built-in model, against Ultralytics' own predict, and peak memory.

    python benchmarks/bench_detect.py [--images N] [--source IMAGE]

Makes 3 MP (2048x1536) and 12 MP (4000x3000) JPEGs (q92) from a real camera-trap image, then times, each in
a fresh subprocess (so peak RSS is per configuration): trapblur.detect at 640 and 1280 px, and
``YOLO(model).predict(file)`` image by image at the same sizes. Predict needs torchvision's compiled NMS;
where that does not load the script says so, and also runs predict with a pure-PyTorch NMS registered for
the benchmark only (``_torchvision_nms_shim.py``, engine "ultralytics+nms-shim"). For every engine it
compares the person boxes (conf >= 0.25) with trapblur's: "same" counts boxes matched at IoU >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
DEFAULT_SOURCE = HERE.parents[2] / "shared" / "data" / "images" / "person_animlr_Peru_S90_SDZG2_EK000008.JPG"


def make_images(source: Path, folder: Path, size: tuple[int, int], count: int) -> Path:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    pixels = cv2.resize(cv2.imread(str(source)), size, interpolation=cv2.INTER_CUBIC)
    for i in range(count):
        shifted = cv2.flip(pixels, 1) if i % 2 else pixels  # not all byte-identical
        cv2.imwrite(str(folder / f"img_{i:03d}.jpg"), shifted, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return folder


def child(kind: str, folder: str, size: int) -> None:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    files = sorted(Path(folder).glob("*.jpg"))
    result: dict = {"kind": kind, "size": size, "images": len(files)}
    if kind == "trapblur":
        import trapblur

        trapblur.detect(files[0], model="builtin-person", image_size=size)  # warm-up (model load, first call)
        start = time.perf_counter()
        results = trapblur.detect(folder, model="builtin-person", image_size=size)
        elapsed = time.perf_counter() - start
        result["people"] = sum(1 for e in results.images if (e.max_conf("person") or 0) >= 0.25)
        by_name = {Path(e.file).name: e for e in results.images}
        result["boxes"] = [[list(d.bbox) for d in by_name[f.name].detections if d.conf >= 0.25] for f in files]
    else:
        try:
            if kind == "ultralytics+nms-shim":
                sys.path.insert(0, str(HERE.parent))
                import _torchvision_nms_shim

                _torchvision_nms_shim.install()
            from ultralytics import YOLO

            from trapblur.detection.models import resolve_model

            model = YOLO(str(resolve_model("builtin-person").path))
            model.predict(str(files[0]), imgsz=size, verbose=False)
            start = time.perf_counter()
            people, boxes = 0, []
            for file in files:
                out = model.predict(str(file), imgsz=size, conf=0.25, verbose=False)
                people += int(len(out[0].boxes) > 0)
                boxes.append([[cx - w / 2, cy - h / 2, w, h] for cx, cy, w, h in out[0].boxes.xywhn.tolist()])
            elapsed = time.perf_counter() - start
            result["people"] = people
            result["boxes"] = boxes
        except Exception as exc:  # noqa: BLE001 - report why it does not run here
            result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            elapsed = None
    result["images_per_s"] = None if elapsed is None else round(len(files) / elapsed, 2)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))


def compare_boxes(ours: list, theirs: list) -> str:
    """How many of their person boxes trapblur also found (IoU >= 0.95), and how many each found."""
    def iou(a: list, b: list) -> float:
        w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
        union = a[2] * a[3] + b[2] * b[3] - w * h
        return w * h / union if union > 0 else 0.0

    same = sum(any(iou(t, o) >= 0.95 for o in ours_image) for ours_image, theirs_image in zip(ours, theirs)
               for t in theirs_image)
    return f"same boxes: {same} of {sum(map(len, theirs))} (trapblur {sum(map(len, ours))})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        sets = {
            "3MP": make_images(args.source, Path(tmp) / "3MP", (2048, 1536), args.images),
            "12MP": make_images(args.source, Path(tmp) / "12MP", (4000, 3000), args.images),
        }
        print(f"{'images':<6} {'model size':>10} {'engine':<22} {'images/s':>9} {'peak RSS MB':>12}  note")
        for label, folder in sets.items():
            for size in (640, 1280):
                reference = None
                for kind in ("trapblur", "ultralytics", "ultralytics+nms-shim"):
                    out = subprocess.run([sys.executable, str(HERE), "--child", kind, str(folder), str(size)],
                                         capture_output=True, text=True)
                    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
                    if not lines:
                        print(f"{label:<6} {size:>10} {kind:<22} failed: {out.stderr.strip().splitlines()[-1:]}")
                        continue
                    r = json.loads(lines[-1])
                    speed = "-" if r["images_per_s"] is None else f"{r['images_per_s']:.2f}"
                    note = r.get("error") or f"{r['people']}/{r['images']} with a person >= 0.25"
                    if kind == "trapblur":
                        reference = r.get("boxes")
                    elif reference is not None and "boxes" in r:
                        note += "; " + compare_boxes(reference, r["boxes"])
                    print(f"{label:<6} {size:>10} {kind:<22} {speed:>9} {r['peak_rss_mb']:>12}  {note}")


if __name__ == "__main__":
    main()
