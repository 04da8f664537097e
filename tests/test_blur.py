"""Pixel operations: strong inside the region, nothing outside, close to a true Gaussian, fast at any sigma."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from trapblur.blur import gaussian_blur, hide_regions
from trapblur.regions import PixelBox, Region

from conftest import detail_energy, textured_pixels


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.mark.parametrize("sigma", [2, 6, 15, 40, 90])
def test_fast_gaussian_is_close_to_a_true_gaussian(sigma: float) -> None:
    image = textured_pixels(700, 500, seed=3)
    reference = cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    approximation = gaussian_blur(image, sigma)
    margin = int(3 * sigma) if 6 * sigma < 500 else 0
    inner = (slice(margin, 500 - margin), slice(margin, 700 - margin)) if margin else (slice(None), slice(None))
    assert psnr(reference[inner], approximation[inner]) > 45


@pytest.mark.parametrize("method", ["gaussian", "pixelate", "fill"])
@pytest.mark.parametrize("shape", ["rectangle", "ellipse"])
def test_region_is_hidden_and_nothing_outside_changes(method: str, shape: str) -> None:
    image = textured_pixels(400, 300, seed=1)
    original = image.copy()
    box = PixelBox(100, 50, 220, 290)
    hide_regions(image, [Region(box, sigma=240 / 8, shape=shape)], method)
    outside = np.ones(image.shape[:2], bool)
    outside[50:290, 100:220] = False
    assert np.array_equal(image[outside], original[outside])
    core = image[110:230, 130:190]  # well inside the ellipse too
    assert detail_energy(core) < 0.05 * detail_energy(original[110:230, 130:190])
    if shape == "ellipse":  # the corners of the box are outside the ellipse and stay sharp
        assert np.array_equal(image[50:55, 100:105], original[50:55, 100:105])


def test_grey_and_alpha_images_work() -> None:
    grey = textured_pixels(200, 200, channels=1)
    hide_regions(grey, [Region(PixelBox(0, 0, 100, 100), 12)])
    assert detail_energy(grey[10:90, 10:90]) < 0.1 * detail_energy(textured_pixels(200, 200, channels=1)[10:90, 10:90])
    rgba = np.dstack([textured_pixels(100, 100), np.full((100, 100), 255, np.uint8)])
    hide_regions(rgba, [Region(PixelBox(0, 0, 50, 50), 6)], "pixelate")
    assert rgba.shape == (100, 100, 4)


def test_a_region_at_the_frame_edge_is_hidden_to_the_edge() -> None:
    image = textured_pixels(300, 200, seed=2)
    original = image.copy()
    hide_regions(image, [Region(PixelBox(0, 100, 300, 200), 30)])
    assert detail_energy(image[190:200, :]) < 0.1 * detail_energy(original[190:200, :])
    assert detail_energy(image[100:200, 0:8]) < 0.1 * detail_energy(original[100:200, 0:8])
