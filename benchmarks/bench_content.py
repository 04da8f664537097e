"""What recording each image's content costs: hash throughput, and the copy path with and without hashing.

    python benchmarks/bench_content.py             # all sections, 3 MB files
    python benchmarks/bench_content.py --size 12   # 12 MB files (12 MP camera JPEGs are 4-12 MB)

Printed, not asserted (a shared machine is too noisy for timed tests). Figures are medians of several
rounds; CPU time (process_time) is shown beside wall time because other jobs share the cores.

* hash: MB/s of each hashlib algorithm on an in-memory buffer, one thread and two (hashlib releases the GIL).
* copy: ms per file and files/s for copying an unchanged image into the output folder, by the old way
  (``shutil.copyfile``, which uses ``sendfile`` in the kernel) and by trapblur's hashing copy
  (:func:`trapblur.atomic.copy_atomically`: read once, hash and write in the same pass), plus the
  alternatives considered (copy then hash the source again; size + first/last block sampling).
* pipeline: images/s of ``blur_dataset`` (2 workers) on 3 MP camera-like JPEGs with nothing to blur (every
  image copied: issue 9's target is >= 500/s), and of the re-run that finds them all done (each one's bytes
  hashed and compared with the journal).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from trapblur.atomic import copy_atomically  # noqa: E402


def timed(action: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``action`` over ``rounds`` runs."""
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def bench_hashes(size_mb: int, rounds: int) -> None:
    data = os.urandom(size_mb * 1_000_000)
    print(f"hash throughput on a {size_mb} MB buffer (median of {rounds}; MB/s by wall / by CPU time)")
    for name in ("sha256", "blake2b", "blake2s", "sha1", "md5"):
        wall, cpu = timed(lambda: hashlib.new(name, data).digest(), rounds)
        with ThreadPoolExecutor(2) as pool:
            wall2, _ = timed(lambda: list(pool.map(lambda _: hashlib.new(name, data).digest(), range(2))), rounds)
        print(f"  {name:<8} {size_mb / wall:8.0f} / {size_mb / cpu:8.0f} MB/s   "
              f"2 threads: {2 * size_mb / wall2:8.0f} MB/s")


def sampled_digest(path: Path, block: int = 65536) -> str:
    """The cheap alternative: size + first and last blocks (rejected: a change in the middle is missed)."""
    size = path.stat().st_size
    with path.open("rb") as stream:
        head = stream.read(block)
        stream.seek(max(0, size - block))
        tail = stream.read(block)
    return hashlib.sha256(str(size).encode() + head + tail).hexdigest()


def bench_copy(size_mb: int, files: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="trapblur-bench-content-") as tmp:
        source_dir, out = Path(tmp) / "in", Path(tmp) / "out"
        source_dir.mkdir()
        sources = []
        for index in range(files):
            path = source_dir / f"IMG_{index:04d}.JPG"
            path.write_bytes(os.urandom(size_mb * 1_000_000))
            sources.append(path)

        def each(copy: Callable[[Path, Path], object]) -> Callable[[], None]:
            def run() -> None:
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                for path in sources:
                    copy(path, out / path.name)
            return run

        def old_copy(source: Path, target: Path) -> None:  # what the pipeline did before content hashes
            shutil.copyfile(source, target)
            stat = source.stat()
            os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))

        def copy_then_hash(source: Path, target: Path) -> None:
            old_copy(source, target)
            digest = hashlib.sha256()
            with source.open("rb") as stream:
                while chunk := stream.read(1 << 20):
                    digest.update(chunk)

        def read_hash_only(source: Path, target: Path) -> None:  # what a resume check reads
            digest = hashlib.sha256()
            with source.open("rb") as stream:
                while chunk := stream.read(1 << 20):
                    digest.update(chunk)

        ways = {
            "shutil.copyfile (no hash; before)": old_copy,
            "copy_atomically: one pass, sha256": copy_atomically,
            "copyfile, then hash the source": copy_then_hash,
            "hash only (resume check)": read_hash_only,
            "sampled: size + first/last 64 KiB": lambda s, t: sampled_digest(s),
        }
        each(old_copy)()  # warm the page cache: the figures are for files the OS has cached
        print(f"\ncopying {files} files of {size_mb} MB each, page cache warm (median of {rounds} rounds)")
        figures = {}
        for _ in range(rounds):  # alternate the ways, so that a noisy neighbour hits them all alike
            for label, way in ways.items():
                wall, cpu = timed(each(way), 1)
                figures.setdefault(label, []).append((wall, cpu))
        for label, pairs in figures.items():
            wall = statistics.median(p[0] for p in pairs)
            cpu = statistics.median(p[1] for p in pairs)
            print(f"  {label:<36} {1000 * wall / files:6.2f} ms/file wall, {1000 * cpu / files:6.2f} ms CPU, "
                  f"{files / wall:7.0f} files/s")


def bench_pipeline(count: int, rounds: int) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_blur import REAL_PHOTO, make_folder

    import trapblur

    with tempfile.TemporaryDirectory(prefix="trapblur-bench-content-") as tmp:
        root = Path(tmp)
        images, results = make_folder(root, count, 2048, 1536, 0, REAL_PHOTO.is_file(), False)
        size = sum(p.stat().st_size for p in images.rglob("*.jpg")) / count / 1e6
        print(f"\nblur_dataset, 2 workers, {count} images of {size:.2f} MB with nothing to blur (median of {rounds})")
        copy, resume = [], []
        for _ in range(rounds):
            output = root / "out"
            shutil.rmtree(output, ignore_errors=True)
            os.sync()
            copy.append(timed(lambda: trapblur.blur_dataset(images, results, output, workers=2), 1))
            resume.append(timed(lambda: trapblur.blur_dataset(images, results, output, workers=2), 1))
        for label, figures in (("copied", copy), ("re-run, all done", resume)):
            wall = statistics.median(f[0] for f in figures)
            cpu = statistics.median(f[1] for f in figures)
            print(f"  {label:<18} {count / wall:7.0f} images/s, {1000 * cpu / count:5.2f} ms CPU/image")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=3, help="file size in MB (default 3)")
    parser.add_argument("--files", type=int, default=200, help="files per copy round (default 200)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=1000, help="images for the pipeline section (default 1000)")
    parser.add_argument("--only", choices=("hash", "copy", "pipeline"))
    args = parser.parse_args()
    if args.only in (None, "hash"):
        bench_hashes(args.size, args.rounds)
    if args.only in (None, "copy"):
        bench_copy(args.size, args.files, args.rounds)
    if args.only in (None, "pipeline"):
        bench_pipeline(args.images, args.rounds)


if __name__ == "__main__":
    main()
