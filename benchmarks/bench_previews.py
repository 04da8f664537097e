"""What cleaning previews out of the metadata, and auditing the result, costs per blurred image. Figures,
not a test.

    python benchmarks/bench_previews.py [--repeat 200]

For the real camera-trap JPEGs in ../shared/data/images (when present) and generated files with heavy
metadata (a 60 KB maker note, a 20 KB XMP packet, an ICC profile; a PNG with XMP and a raw EXIF profile;
a TIFF with EXIF, GPS, IPTC and XMP), it times, in CPU time (median of ``--repeat`` runs, one thread):

* sanitise: the structure-aware cleaners (:func:`trapblur.jpeg_metadata.sanitise_metadata`,
  :func:`trapblur.png.carry_metadata`, :func:`trapblur.tiff.rebuild`), with previews rendered from a
  small picture (rendering itself, which only happens when a preview exists, is counted here);
* audit: the independent check of the finished file (:func:`trapblur.jpeg_metadata.audit`, ...), which
  runs on every blurred image.

CPU time, not wall clock, so that other work on a shared machine counts less; the figures still vary.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from trapblur import jpeg_metadata, png, tiff
from trapblur.codecs import Pixels, _preview_renderer, inspect_image
from trapblur.jpeg import replace_metadata

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from _metadata_support import (  # noqa: E402
    DATE, ORIGINAL_DATE, exif_with_maker_note, itxt, photo, raw_profile, segment, tiff_structure, with_chunks,
    with_segments, xmp_packet, ztxt,
)


def cpu_median(function: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time_ns()
        function()
        times.append(time.process_time_ns() - start)
    return statistics.median(times) / 1e6


def generated_jpeg() -> bytes:
    picture = photo(1024, 768)
    rng = np.random.default_rng(0)
    note = b"Nikon\x00\x02\x10\x00\x00" + rng.integers(0, 256, 60_000, dtype=np.uint8).tobytes()
    history = "".join(f"<rdf:li stEvt:action='saved' stEvt:when='2024-05-0{i % 9 + 1}T06:12:30'/>" for i in range(250))
    packet = xmp_packet(f"<xmpMM:History><rdf:Seq>{history}</rdf:Seq></xmpMM:History>",
                        namespaces='xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"')
    icc = segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + rng.integers(0, 256, 3_000, dtype=np.uint8).tobytes())
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90, exif=exif_with_maker_note(note))
    return with_segments(buffer.getvalue(), segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + packet), icc)


def generated_png() -> bytes:
    buffer = io.BytesIO()
    photo(1024, 768).save(buffer, "PNG")
    packet = xmp_packet("<dc:subject><rdf:Bag><rdf:li>hiker</rdf:li></rdf:Bag></dc:subject>")
    exif = b"Exif\x00\x00" + tiff_structure([[(0x0132, 2, len(DATE), DATE), (0x8769, 4, 1, b"@ifd:1")],
                                                [(0x9003, 2, len(ORIGINAL_DATE), ORIGINAL_DATE)]])
    return with_chunks(buffer.getvalue(), itxt(b"XML:com.adobe.xmp", packet, True),
                       ztxt(b"Raw profile type exif", raw_profile("exif", exif)))


def generated_tiff() -> bytes:
    buffer = io.BytesIO()
    photo(1024, 768).save(buffer, "TIFF", compression="tiff_lzw")
    return buffer.getvalue()


def small_pixels() -> Pixels:
    return Pixels(np.asarray(photo(320, 240))[..., ::-1].copy(), "BGR")


def measure(name: str, data: bytes, repeat: int) -> tuple[str, int, float, float]:
    source = inspect_image(data)
    pixels = small_pixels()
    renderer = _preview_renderer(lambda width, height: pixels)
    if source.format == "JPEG":
        sanitise = lambda: jpeg_metadata.sanitise_metadata(data, source.jpeg_layout, renderer)  # noqa: E731
        output = replace_metadata(data, sanitise().segments)
        audit = lambda: jpeg_metadata.audit(output, renderer.rendered)  # noqa: E731
        size = sum(s.end - s.start for s in source.jpeg_layout.metadata_segments)
    elif source.format == "PNG":
        sanitise = lambda: png.carry_metadata(data, data, renderer)  # noqa: E731
        output = sanitise()[0]
        audit = lambda: png.audit(output, renderer.rendered)  # noqa: E731
        size = len(data) - sum(len(c.data) for c in png.iter_chunks(data) if c.kind == b"IDAT")
    else:
        sanitise = lambda: tiff.rebuild(data, data, renderer)  # noqa: E731
        output = sanitise().data
        audit = lambda: tiff.audit(output, renderer.rendered)  # noqa: E731
        size = 0
    audit()  # the output must pass before it is timed
    return name, size, cpu_median(sanitise, repeat), cpu_median(audit, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    cases = [("generated JPEG: 60 KB maker note, 20 KB XMP, ICC", generated_jpeg()),
             ("generated PNG: XMP + raw EXIF profile", generated_png()),
             ("generated LZW TIFF", generated_tiff())]
    shared = REPO.parent / "shared" / "data" / "images"
    if shared.is_dir():
        for path in sorted(shared.iterdir()):
            if not path.name.startswith(("broken", "hard")) and path.suffix.lower() in (".jpg", ".jpeg"):
                cases.append((path.name, path.read_bytes()))
    print(f"load average {os.getloadavg()[0]:.1f}; CPU ms, median of {args.repeat}")
    print(f"{'image':<58} {'metadata KB':>11} {'sanitise':>9} {'audit':>7}")
    for name, data in cases:
        label, size, sanitise_ms, audit_ms = measure(name, data, args.repeat)
        print(f"{label:<58} {size / 1024:>11.1f} {sanitise_ms:>9.3f} {audit_ms:>7.3f}")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
