"""Time and size of `trapblur review` on a 10,000-image run, and thumbnails per second (figures, not a test).

    python benchmarks/bench_review.py                  # 10,000 images, 1920 x 1080
    python benchmarks/bench_review.py --images 2000 --size 4032x3024 --browser

* run: a folder of N camera-trap JPEGs (hard links to a few distinct photographs, so the disk holds only a
  few; made from the real shared photograph when ../shared is present) in 20 camera folders: 8% with a
  person above the threshold, 3% with a person between the review floor and the threshold, 1.5% not in the
  results, 0.5% detector failures, the rest empty; blurred once with `blur_dataset` (not timed).
* review: wall and CPU time of `review()`, pages written, the index page's size and the total size.
* thumbnails: thumbnails/s of `trapblur.review.thumbnail` on 3 MP and 12 MP JPEGs, one thread and a
  pool of 2 (the codecs release the GIL). Target: >= 100/s on this 2-core machine.
* --browser: time for headless Chromium to load the index page (navigation start to the load event).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from trapblur import blur_dataset, review
from trapblur.review import thumbnail

REAL_PHOTO = Path(__file__).resolve().parents[1].parent / "shared/data/images/person_animlpy_B012_2021-05-27_human.jpg"


def photo(width: int, height: int, seed: int) -> bytes:
    """A JPEG like a camera-trap frame: the real shared photograph resized and shifted, else a synthetic scene."""
    rng = np.random.default_rng(seed)
    if REAL_PHOTO.is_file():
        image = Image.open(REAL_PHOTO).convert("RGB").resize((width + 64, height + 64))
        dx, dy = rng.integers(0, 64, 2)
        image = image.crop((dx, dy, dx + width, dy + height))
    else:
        small = rng.integers(40, 200, (height // 64 + 2, width // 64 + 2, 3)).astype(np.uint8)
        scene = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.int16)
        scene += rng.normal(0, 9, (height, width, 1)).astype(np.int16)
        image = Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def build_run(root: Path, count: int, width: int, height: int) -> tuple[Path, Path, Path]:
    sources = root / "sources"
    sources.mkdir(parents=True)
    distinct = []
    for seed in range(12):
        path = sources / f"{seed}.jpg"
        path.write_bytes(photo(width, height, seed))
        distinct.append(path)
    images = root / "cameras"
    entries = []
    person = {"category": "2", "bbox": [0.4, 0.3, 0.12, 0.45]}
    for index in range(count):
        folder = images / f"camera_{index % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"camera_{index % 20:02d}/IMG_{index:06d}.JPG"
        os.link(distinct[index % len(distinct)], images / name)
        share = index % 200
        if share < 16:
            entries.append({"file": name, "detections": [{**person, "conf": 0.91}]})
        elif share < 22:
            entries.append({"file": name, "detections": [{**person, "conf": 0.06 + 0.005 * (share - 16)}]})
        elif share < 25:
            continue  # not in the results: withheld
        elif share < 26:
            entries.append({"file": name, "failure": "inference failure"})
        else:
            entries.append({"file": name, "detections": [{"category": "1", "conf": 0.8, "bbox": [0.1, 0.1, 0.2, 0.2]}]
                            if share % 3 == 0 else []})
    results = root / "md.json"
    results.write_text(json.dumps({
        "info": {"format_version": "1.4", "detector": "benchmark",
                 "detector_metadata": {"typical_detection_threshold": 0.2, "conservative_detection_threshold": 0.05}},
        "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"}, "images": entries}))
    share = root / "share"
    started = time.perf_counter()
    blur_dataset(images, results, share, link_unchanged=True, workers=2)
    print(f"run: {count:,} images of {width} x {height} blurred in {time.perf_counter() - started:.0f} s (set-up, not timed)")
    return images, results, share


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_review(share: Path) -> Path:
    times = []
    for attempt in range(2):
        wall, before = time.perf_counter(), cpu()
        page = review(share, workers=2)
        times.append((time.perf_counter() - wall, cpu() - before))
    sizes = [p.stat().st_size for p in page.pages]
    shown = ", ".join(f"{k} {s:,}/{t:,}" for k, (t, s) in page.sections.items())
    print(f"review: {len(page.pages)} pages, {page.thumbnails:,} thumbnails (shown/total: {shown})")
    for wall, used in times:
        print(f"  wall {wall:.1f} s, CPU {used:.1f} s ({page.thumbnails / wall:.0f} thumbnails/s wall)")
    print(f"  index.html {page.path.stat().st_size / 1e6:.1f} MB; largest page {max(sizes) / 1e6:.1f} MB; "
          f"all pages {sum(sizes) / 1e6:.1f} MB")
    return page.path


def bench_thumbnails(root: Path) -> None:
    for width, height in ((2048, 1536), (4032, 3024)):
        paths = []
        for seed in range(8):
            path = root / f"thumb_{width}_{seed}.jpg"
            path.write_bytes(photo(width, height, 100 + seed))
            paths.append(path)
        work = paths * 25  # 200 thumbnails
        thumbnail(paths[0])
        single = []
        for _ in range(3):
            before = cpu()
            for path in work:
                thumbnail(path)
            single.append(len(work) / (cpu() - before))
        pooled = []
        for _ in range(3):
            wall = time.perf_counter()
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(thumbnail, work))
            pooled.append(len(work) / (time.perf_counter() - wall))
        print(f"thumbnails {width} x {height}: {statistics.median(single):.0f}/s per CPU-second (one thread), "
              f"{statistics.median(pooled):.0f}/s wall with 2 threads (medians of 3)")


def bench_browser(index: Path) -> None:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        print("browser: selenium not installed")
        return
    options = webdriver.ChromeOptions()
    profile = tempfile.mkdtemp()
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={profile}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    try:
        loads = []
        for _ in range(3):
            driver.get("about:blank")
            driver.get(index.as_uri())
            loads.append(driver.execute_script(
                "var t = performance.getEntriesByType('navigation')[0]; return t.loadEventEnd - t.startTime;"))
        print(f"browser: index.html loads in {statistics.median(loads) / 1000:.2f} s (headless Chromium, median of 3)")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--browser", action="store_true", help="also time loading the page in headless Chromium")
    parser.add_argument("--keep", type=Path, default=None, help="build the run here and keep it")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    root = args.keep or Path(tempfile.mkdtemp(prefix="trapblur-bench-review-"))
    try:
        _, _, share = build_run(root, args.images, width, height)
        index = bench_review(share)
        bench_thumbnails(root)
        if args.browser:
            bench_browser(index)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
