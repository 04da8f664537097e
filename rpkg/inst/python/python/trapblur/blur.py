"""Pixel operations that hide regions of an image. Pure functions on numpy arrays, no files.

The Gaussian blur is computed as *downscale (area) -> small Gaussian -> upscale (linear)*, which costs the
same few milliseconds whatever the sigma, where ``cv2.GaussianBlur`` grows linearly with it (seconds for a
full-body box at privacy-grade strength). Measured against a true Gaussian on a real camera-trap crop, the
result is within 54-57 dB PSNR for sigma 6-100 (identical below sigma 3, where a true Gaussian is used);
``tests/test_blur.py`` checks it stays above 45 dB.

The blur reads pixels around the box (3 sigma) so that edges fade into their surroundings; only pixels
inside the region (rectangle, or the ellipse inscribed in it) are changed.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from .regions import PixelBox, Region

TRUE_GAUSSIAN_MAX_SIGMA = 3.0
SMALL_SIGMA = 2.5  # sigma left for the downscaled image; the downscale factor is sigma / SMALL_SIGMA


def hide_regions(pixels: np.ndarray, regions: Sequence[Region], method: str = "gaussian") -> None:
    """Hide every region of ``pixels`` (H x W or H x W x C, any integer dtype), in place."""
    height, width = pixels.shape[:2]
    for region in regions:
        box = _clip_box(region.box, width, height)
        if box.empty:
            continue
        if method == "gaussian":
            margin = math.ceil(3 * region.sigma)
            window = box.grown(margin, width, height)
            hidden = gaussian_blur(pixels[_slices(window)], region.sigma)
            hidden = hidden[_slices(box.shifted(-window.x0, -window.y0))]
        elif method == "pixelate":
            hidden = pixelate(pixels[_slices(box)], cell=max(2, round(2 * region.sigma)))
        elif method == "fill":
            hidden = np.zeros_like(pixels[_slices(box)])
        else:
            raise ValueError(f"unknown method {method!r}")
        _paste(pixels, box, hidden, region.shape)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of ``image`` with standard deviation ``sigma`` pixels, in time flat in sigma."""
    if sigma <= TRUE_GAUSSIAN_MAX_SIGMA:
        return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    height, width = image.shape[:2]
    factor = max(1, int(sigma / SMALL_SIGMA))
    # Pad (mirrored) to a multiple of the factor: OpenCV's area downscale is ~2.5x faster at integer ratios.
    padded = cv2.copyMakeBorder(image, 0, -height % factor, 0, -width % factor, cv2.BORDER_REFLECT)
    padded_height, padded_width = padded.shape[:2]
    small = cv2.resize(padded, (padded_width // factor, padded_height // factor), interpolation=cv2.INTER_AREA)
    # The area downscale and the linear upscale each blur a little (variances (f^2-1)/12 and f^2/6 in
    # full-size pixels); take them off what the small Gaussian must add.
    residual = sigma**2 - (factor**2 - 1) / 12 - factor**2 / 6
    small_sigma = math.sqrt(max(residual, 0.25)) / factor
    small = cv2.GaussianBlur(small, (0, 0), small_sigma, borderType=cv2.BORDER_REFLECT)
    large = cv2.resize(small, (padded_width, padded_height), interpolation=cv2.INTER_LINEAR)
    return _restore_shape(large[:height, :width], image)


def pixelate(image: np.ndarray, cell: int) -> np.ndarray:
    """A mosaic of ``cell`` x ``cell`` squares, each the mean of the pixels under it."""
    height, width = image.shape[:2]
    small_size = (max(1, math.ceil(width / cell)), max(1, math.ceil(height / cell)))
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    return _restore_shape(cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST), image)


def region_mask(height: int, width: int, shape: str) -> np.ndarray | None:
    """Boolean mask of the pixels a region of this size covers, or None for the whole rectangle."""
    if shape == "rectangle":
        return None
    ys = (np.arange(height) + 0.5) / height * 2 - 1
    xs = (np.arange(width) + 0.5) / width * 2 - 1
    return (ys[:, None] ** 2 + xs[None, :] ** 2) <= 1.0


def _paste(pixels: np.ndarray, box: PixelBox, hidden: np.ndarray, shape: str) -> None:
    target = pixels[_slices(box)]
    mask = region_mask(box.height, box.width, shape)
    if mask is None:
        target[...] = hidden
    else:
        target[mask] = hidden[mask]


def _restore_shape(result: np.ndarray, like: np.ndarray) -> np.ndarray:
    # OpenCV drops a trailing channel axis of size 1.
    return result.reshape(like.shape) if result.ndim != like.ndim else result


def _clip_box(box: PixelBox, width: int, height: int) -> PixelBox:
    return PixelBox(max(0, box.x0), max(0, box.y0), min(width, box.x1), min(height, box.y1))


def _slices(box: PixelBox) -> tuple[slice, slice]:
    return slice(box.y0, box.y1), slice(box.x0, box.x1)
