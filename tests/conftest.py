"""Shared test fixtures: real images generated here, and the shared camera-trap data when it is present."""

from __future__ import annotations

import hashlib
import io
import json
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_IMAGES = SHARED / "data" / "images"
SHARED_MD = SHARED / "data" / "md"


@pytest.fixture
def shared_images() -> Path:
    if not SHARED_IMAGES.is_dir():
        pytest.skip("../shared/data/images is not present")
    return SHARED_IMAGES


@pytest.fixture
def shared_md() -> Path:
    if not SHARED_MD.is_dir():
        pytest.skip("../shared/data/md is not present")
    return SHARED_MD


def textured_pixels(width: int, height: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    """A photograph-like test pattern: smooth gradients plus strong fine detail everywhere."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 90 + 60 * np.sin(xs / 37.0) * np.cos(ys / 53.0)
    stripes = 40 * np.sign(np.sin(xs / 1.7 + ys / 2.3))
    noise = rng.normal(0, 25, (height, width))
    grey = np.clip(base + stripes + noise, 0, 255)
    if channels == 1:
        return grey.astype(np.uint8)
    planes = [np.clip(grey * f + o, 0, 255) for f, o in ((1.0, 0), (0.8, 30), (0.6, 60))][:channels]
    return np.dstack(planes).astype(np.uint8)


def build_exif(orientation: int = 1, date: str = "2024:05:01 06:12:30", thumbnail: bytes | None = None) -> bytes:
    """An EXIF APP1 payload (``Exif\\0\\0`` + little-endian TIFF) with IFD0 and, optionally, a thumbnail IFD1."""
    date_bytes = date.encode() + b"\x00"
    entries0 = 2
    ifd0_offset = 8
    ifd0_size = 2 + 12 * entries0 + 4
    date_offset = ifd0_offset + ifd0_size
    ifd1_offset = date_offset + len(date_bytes) if thumbnail else 0
    ifd1_size = 2 + 12 * 3 + 4
    thumb_offset = ifd1_offset + ifd1_size
    tiff = bytearray(b"II*\x00" + struct.pack("<I", ifd0_offset))
    tiff += struct.pack("<H", entries0)
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack("<HHII", 0x0132, 2, len(date_bytes), date_offset)
    tiff += struct.pack("<I", ifd1_offset)
    tiff += date_bytes
    if thumbnail:
        tiff += struct.pack("<H", 3)
        tiff += struct.pack("<HHIHH", 0x0103, 3, 1, 6, 0)  # compression: JPEG
        tiff += struct.pack("<HHII", 0x0201, 4, 1, thumb_offset)
        tiff += struct.pack("<HHII", 0x0202, 4, 1, len(thumbnail))
        tiff += struct.pack("<I", 0)
        tiff += thumbnail
    return b"Exif\x00\x00" + bytes(tiff)


def jpeg_bytes(image: Image.Image, **save: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **save)
    return buffer.getvalue()


def make_camera_jpeg(
    width: int = 640,
    height: int = 480,
    seed: int = 0,
    orientation: int = 1,
    thumbnail: bool = True,
    quality: int = 90,
    subsampling: int = 2,
    extra_comment: bytes = b"camera trap 7, site B",
) -> bytes:
    """A JPEG like a camera trap's: textured pixels, EXIF (orientation, date, thumbnail), a comment."""
    rgb = textured_pixels(width, height, seed)
    image = Image.fromarray(rgb)
    thumb = jpeg_bytes(image.resize((160, 120)), quality=80) if thumbnail else None
    data = jpeg_bytes(image, quality=quality, subsampling=subsampling, exif=build_exif(orientation, thumbnail=thumb))
    # add a COM segment right after SOI so comments are covered too
    comment = b"\xff\xfe" + struct.pack(">H", len(extra_comment) + 2) + extra_comment
    return data[:2] + comment + data[2:]


def write_md(path: Path, entries: list[dict], categories: dict | None = None, version: str = "1.4") -> Path:
    document = {
        "info": {"format_version": version, "detector": "test"},
        "detection_categories": categories or {"1": "animal", "2": "person", "3": "vehicle"},
        "images": entries,
    }
    path.write_text(json.dumps(document))
    return path


def as_made_by(results: Path, copy: Path, detector: str = "md_v5a.0.0.pt", format_version: str = "1.4") -> Path:
    """A copy of the results file ``results`` whose ``info`` says ``detector`` made it (MegaDetector v5 by default)."""
    document = json.loads(results.read_text())
    document["info"] = {**document.get("info", {}), "detector": detector, "format_version": format_version}
    copy.write_text(json.dumps(document))
    return copy


def person(bbox: list[float], conf: float = 0.9) -> dict:
    return {"category": "2", "conf": conf, "bbox": bbox}


def decode(path_or_bytes: Path | bytes) -> np.ndarray:
    """Pixels in stored order (no EXIF rotation), BGR or grey, as an independent reader sees them."""
    data = path_or_bytes.read_bytes() if isinstance(path_or_bytes, Path) else path_or_bytes
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    assert array is not None, "the output does not decode"
    return array


def detail_energy(pixels: np.ndarray) -> float:
    """Mean absolute Laplacian: high for fine detail (faces, texture), near zero after a strong blur."""
    grey = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels[..., :3], cv2.COLOR_BGR2GRAY)
    return float(np.mean(np.abs(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F))))


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root``: its SHA-256 and modification time, to prove nothing was touched."""
    return {
        p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def segments_of(data: bytes) -> list[bytes]:
    """APPn and COM segments of a JPEG, parsed independently of trapblur's parser."""
    out, position = [], 2
    while position < len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xDA:
            break
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            out.append(data[position : position + 2 + length])
        position += 2 + length
    return out
