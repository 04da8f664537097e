"""One image for the web: decode small, turn upright, shrink to a longest side, encode to fit a byte budget.

Speed comes from decoding less: a JPEG is decoded at 1/2, 1/4 or 1/8 of its size when that still covers the
target (libjpeg scales in the DCT domain, so a 12 MP photograph bound for 1600 px costs about half a full
decode), then shrunk the rest of the way (less than 2x) bilinearly. The EXIF orientation is applied to the pixels (the output carries
no orientation tag), using the same tag trapblur read when it placed the blur boxes.

The quality search: encode at ``top_quality``; if that does not fit, binary-search the highest quality between
``min_quality`` and it that does. An image that does not fit even at ``min_quality`` is not exported
(:class:`DoesNotFit`): a smudge is no use to volunteers, and the user can lower the size instead.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from ..codecs import as_displayed, inspect_image
from ..errors import ImageError

_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}


class DoesNotFit(ImageError):
    """The image cannot be encoded within the byte budget at or above the quality floor."""


@dataclass(frozen=True)
class Encoded:
    data: bytes
    quality: int
    width: int
    height: int


def target_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """``width`` x ``height`` shrunk so that its longest side is at most ``max_side``; never enlarged."""
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def dct_factor(width: int, height: int, target_width: int, target_height: int) -> int:
    """The largest JPEG decode reduction (8, 4, 2 or 1) whose result is still at least the target size."""
    for factor in (8, 4, 2):
        if -(-width // factor) >= target_width and -(-height // factor) >= target_height:
            return factor
    return 1


def upright_pixels(data: bytes, max_side: int) -> np.ndarray:
    """The image in ``data`` as upright 8-bit BGR pixels, longest side at most ``max_side``."""
    source = inspect_image(data)
    turned = source.orientation in (5, 6, 7, 8)
    upright_w, upright_h = (source.height, source.width) if turned else (source.width, source.height)
    out_w, out_h = target_size(upright_w, upright_h, max_side)
    stored_target = (out_h, out_w) if turned else (out_w, out_h)
    if source.format == "JPEG" and len(source.jpeg_layout.components) in (1, 3):
        factor = dct_factor(source.width, source.height, *stored_target)
        flags = _REDUCED[factor] | cv2.IMREAD_IGNORE_ORIENTATION
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    elif source.format == "PNG":
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    else:
        pixels = _decode_with_pillow(data, stored_target)
    if pixels is None:
        raise ImageError(f"cannot decode the {source.format} data (corrupt image)")
    if pixels.dtype != np.uint8:
        pixels = (pixels >> 8).astype(np.uint8)
    if (pixels.shape[1], pixels.shape[0]) != stored_target:
        pixels = cv2.resize(pixels, stored_target, interpolation=_interpolation(pixels.shape[1], stored_target[0]))
    return as_displayed(pixels, source.orientation)


def _interpolation(width: int, target_width: int) -> int:
    """Bilinear for the last step of less than 2x (the DCT reduction did the rest): as sharp as area
    averaging from a full decode, and six times faster than area averaging at a fractional ratio; area
    averaging for larger steps, where bilinear would alias."""
    return cv2.INTER_LINEAR if target_width * 2 >= width else cv2.INTER_AREA


def encode_to_fit(pixels: np.ndarray, budget: int, top_quality: int, min_quality: int) -> Encoded:
    """The best-quality JPEG of ``pixels`` (BGR) of at most ``budget`` bytes; raises :class:`DoesNotFit`."""
    height, width = pixels.shape[:2]

    def encode(quality: int) -> bytes:
        ok, buffer = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ImageError("the JPEG encoder failed")
        return buffer.tobytes()

    best = encode(top_quality)
    if len(best) <= budget:
        return Encoded(best, top_quality, width, height)
    low, high, found = min_quality, top_quality - 1, None
    smallest = len(best)
    while low <= high:
        quality = (low + high) // 2
        data = encode(quality)
        smallest = min(smallest, len(data))
        if len(data) <= budget:
            found, low = Encoded(data, quality, width, height), quality + 1
        else:
            high = quality - 1
    if found is None:
        raise DoesNotFit(
            f"does not fit in {budget:,} bytes even at JPEG quality {min_quality} ({smallest:,} bytes at "
            f"{width} x {height}); lower max_side or raise max_bytes"
        )
    return found


def _decode_with_pillow(data: bytes, size: tuple[int, int]) -> np.ndarray:
    """TIFF and CMYK JPEG, which OpenCV decodes wrongly or not at all: Pillow, reduced where it can."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format == "JPEG":
                image.draft("RGB", size)
            rgb = np.asarray(image.convert("RGB"))
    except Exception as exc:
        raise ImageError(f"cannot decode the image ({exc})") from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
