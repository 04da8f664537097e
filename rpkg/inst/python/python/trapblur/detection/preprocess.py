"""Image decoding and letterboxing for the detector input. Pure functions of bytes and arrays; no model.

The detector sees the picture turned by the EXIF Orientation tag, exactly as :mod:`trapblur.orientation`
reads it (JPEG APP1, PNG eXIf, TIFF IFD0; values 1-8, mirrored ones included; XMP ignored), which is what
image viewers show and what ``info["trapblur_box_frame"]`` tells the blurring step (:mod:`trapblur.frames`),
so that its mapping back to the stored pixels is exact. To make that true whatever the decoder would do on
its own (OpenCV 5 and Pillow 13 both turn TIFFs upright, Pillow even by XMP alone), JPEG, PNG and TIFF are
decoded *as stored* (``IMREAD_IGNORE_ORIENTATION``; TIFF from a copy whose orientation tags read 1) and then
turned here by :func:`turn`. JPEGs are decoded at 1/2, 1/4 or 1/8 size by DCT scaling when that still leaves
at least the model's input size on the long side, which saves most of the decode time of a 12 MP photo
without losing any pixel the detector would see.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..codecs import as_displayed, sniff_format
from ..errors import ImageError
from ..orientation import neutralised, read_evidence

#: File name endings treated as images (case-insensitive). Files that fail to decode get a failure entry.
IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"})

#: Larger images are refused as likely decompression bombs (a 100 MP camera frame is 1e8 pixels).
MAX_PIXELS = 250_000_000

_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))
_JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})


@dataclass(frozen=True)
class Letterboxed:
    """A model-ready image and how to map its pixels back to the upright image."""

    array: np.ndarray  # H x W x 3, uint8, BGR
    left: float
    top: float
    scaled_width: float  # width of the image inside the padded array, in model pixels
    scaled_height: float

    def normalise(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Model-input pixel boxes (x1, y1, x2, y2) -> normalised upright (x, y, w, h), clipped to the image."""
        out = np.empty_like(boxes_xyxy, dtype=np.float64)
        x1 = np.clip((boxes_xyxy[:, 0] - self.left) / self.scaled_width, 0.0, 1.0)
        y1 = np.clip((boxes_xyxy[:, 1] - self.top) / self.scaled_height, 0.0, 1.0)
        x2 = np.clip((boxes_xyxy[:, 2] - self.left) / self.scaled_width, 0.0, 1.0)
        y2 = np.clip((boxes_xyxy[:, 3] - self.top) / self.scaled_height, 0.0, 1.0)
        out[:, 0], out[:, 1], out[:, 2], out[:, 3] = x1, y1, x2 - x1, y2 - y1
        return out


def read_upright(
    path: Path, min_long_side: int | None = None, max_pixels: int = MAX_PIXELS, data: bytes | None = None
) -> np.ndarray:
    """Decode ``path`` to an upright BGR array, at reduced size when its long side stays >= ``min_long_side``.

    ``data``, when given, is the file's bytes already read (so that they can be hashed: the detections are
    then known to be for exactly those bytes); ``path`` only names the file in messages.
    Raises :class:`ImageError` naming the file when it cannot be read or decoded, is truncated, or is too large.
    """
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not data:
        raise ImageError(f"{path}: empty file (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as header:  # reads the header only
            width, height = header.size
            image_format = header.format
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: image is too large to be safe to decode") from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for "not an image"
        raise ImageError(f"{path}: not a readable image ({exc})") from None
    if width * height > max_pixels:
        raise ImageError(
            f"{path}: {width}x{height} pixels is over the limit of {max_pixels} (possible decompression bomb)"
        )
    is_jpeg = image_format in ("JPEG", "MPO")  # Pillow calls JPEGs with MPF preview images "MPO"
    if is_jpeg and b"\xff\xd9" not in data[-65536:]:
        raise ImageError(f"{path}: truncated JPEG (no end-of-image marker); it cannot be fully checked")
    flag = cv2.IMREAD_COLOR
    if is_jpeg and min_long_side:
        for factor, reduced in _REDUCED:
            if max(width, height) / factor >= min_long_side:
                flag = reduced
                break
    kind = sniff_format(data[:16])
    orientation = 1
    if kind is not None:  # the formats the blurring step edits: decode as stored, then turn
        try:
            evidence = read_evidence(data, kind)
        except ImageError as exc:
            raise ImageError(f"{path}: {exc}") from None
        orientation = evidence.display
        decodable = neutralised(data, evidence).getbuffer() if kind == "TIFF" else data
        image = cv2.imdecode(np.frombuffer(decodable, dtype=np.uint8), flag | cv2.IMREAD_IGNORE_ORIENTATION)
        del decodable  # release the view on the copy
    else:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
        if image is None and image_format not in ("BMP", "WEBP"):
            image = _decode_with_pillow(data, path)
    if image is None:
        raise ImageError(f"{path}: image data is corrupt or truncated ({image_format or 'unknown'} file)")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return as_displayed(image, orientation)


def _decode_with_pillow(data: bytes, path: Path) -> np.ndarray | None:
    try:
        from PIL import ImageOps

        with Image.open(io.BytesIO(data)) as image:
            upright = ImageOps.exif_transpose(image).convert("RGB")
            return cv2.cvtColor(np.asarray(upright), cv2.COLOR_RGB2BGR)
    except Exception:  # noqa: BLE001
        return None


def letterbox(
    image: np.ndarray,
    size: int | tuple[int, int],
    *,
    stride: int = 32,
    mode: str = "ultralytics",
) -> Letterboxed:
    """Resize ``image`` to fit the model input and pad it.

    ``mode``:
      - ``"ultralytics"``: as Ultralytics' predict: scale to fit ``size``, pad (value 114, centred) to the next
        multiple of ``stride``; a tuple ``size`` (fixed-shape ONNX input) pads to exactly that shape.
      - ``"megadetector"``: as MegaDetector's v5 runner: long side scaled to ``size`` (area interpolation when
        shrinking), padded to ``ceil(side / stride + 0.5) * stride``.
      - ``"yolox"``: as YOLOX: scaled to fit the square ``size``, placed top-left, padded with 114 to ``size``.
    """
    h, w = image.shape[:2]
    fixed = isinstance(size, tuple)
    target_h, target_w = size if isinstance(size, tuple) else (size, size)
    if mode == "megadetector" and not fixed:
        r = target_h / max(h, w)
        new_w, new_h = int(w * r), int(h * r)
        interpolation = cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation) if r != 1 else image
        out_h = int(math.ceil(new_h / stride + 0.5) * stride)
        out_w = int(math.ceil(new_w / stride + 0.5) * stride)
        top, left = (out_h - new_h) // 2, (out_w - new_w) // 2
        padded = cv2.copyMakeBorder(
            resized, top, out_h - new_h - top, left, out_w - new_w - left, cv2.BORDER_CONSTANT, value=(114, 114, 114)
        )
        return Letterboxed(padded, left, top, new_w, new_h)
    r = min(target_h / h, target_w / w)
    new_w, new_h = int(round(w * r)), int(round(h * r))
    if mode == "yolox":
        resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        padded = np.full((target_h, target_w, 3), 114, dtype=np.uint8)
        padded[:new_h, :new_w] = resized
        return Letterboxed(padded, 0, 0, new_w, new_h)
    dw, dh = target_w - new_w, target_h - new_h
    if not fixed:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    if (w, h) != (new_w, new_h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    padded = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return Letterboxed(padded, left, top, new_w, new_h)


def to_tensor_layout(images: list[np.ndarray], *, rgb: bool, scale: bool) -> np.ndarray:
    """Stack BGR HWC uint8 images into one N x 3 x H x W float32 array (RGB and /255 when asked)."""
    batch = np.stack(images)
    if rgb:
        batch = batch[..., ::-1]
    batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
    if scale:
        batch *= 1.0 / 255.0
    return batch
