"""A strong Gaussian blur of JPEG blocks computed from the block means alone: no pixel is decoded.

Why
---
A privacy-grade blur of a person has sigma = box size / 8: from sigma 20 px on, detail inside an 8 x 8
block is averaged away (the core's own Gaussian, :func:`.blur.gaussian_blur`, starts by averaging cells
of ``sigma / 2.5`` >= 8 px). So the blurred picture depends on the photograph only through its block
means, which are the DC coefficients the file already holds. Decoding every pixel of a box that fills
the frame (inverse DCT, colour conversion, chroma upsampling), blurring at full size and coding it again
(colour conversion, chroma downsampling, forward DCT) cost 3-5 times the libjpeg-turbo transform that
carries the coefficients, and is what made the block-wise path slower than re-encoding on large boxes.

How
---
Per component, in its own sample grid and its own YCbCr values (the blur is linear, so it commutes with
the colour conversion; chroma subsampling only changes the sigma in samples):

1. block means = DC x q[0,0] / 8, over the area plus 3 sigma of context (reflected at the image edges,
   as the core reflects);
2. that block-mean picture, held at :data:`SUBDIVISIONS` points per block each way, is blurred with the
   region's sigma (less the variance the final interpolation adds back), by the core's
   downscale -> small Gaussian -> upscale scheme, so the cost is flat in sigma;
3. each block of the area takes the field bilinearly interpolated at its 64 samples (how the core's
   upscale fills pixels), and since interpolation and the FDCT are both linear, its 64 quantised
   coefficients are one product of the (SUBDIVISIONS + 2)^2 neighbouring field values with a fixed matrix
   that folds interpolation, FDCT and the quantisation table together: a (blocks x 16) @ (16 x 64) GEMM.

The result matches the exact path (decode, :func:`.blur.hide_regions`, encode) to 45 dB PSNR or better
(``tests/test_dct_blur.py``): the same sigma, the same strength. Regions overlapping are blurred in
turn, each from the block means the previous one left, as the core blurs them in turn.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .jpeg_blocks import BlockLayout, blocks_of, component_blocks, factors
from .jpeg_dct import RGB_TO_YCC, YCC_TO_RGB, dct_matrix
from .regions import PixelBox

SUBDIVISIONS = 2
"""Points per block (each way) at which the blurred field is computed before it is interpolated.

At 1 the field is interpolated from block centres, as the core's upscale does from its cells (8 px at
sigma 20); 2 halves the spacing, so 4:2:0 chroma (16 px blocks) is as finely resolved as the core's luma.
"""
_CHUNK_ROWS = 16  # block rows computed at a time: bounded memory whatever the area


@dataclass(frozen=True)
class BlurredArea:
    """One region's blurred field in one component, ready to give the area's new coefficients by rows."""

    field: np.ndarray  # float32 fine-grid field, padded by one point each side
    row0: int  # block row and column of the field's first (unpadded) block
    column0: int
    rows: slice  # the area's block rows and columns (global)
    columns: slice
    matrix: np.ndarray  # ((S+2)^2, 64) float32: neighbours -> quantised-scale coefficients


def blur_means(
    means: np.ndarray, layout: BlockLayout, component: int, area: PixelBox, sigma: float
) -> BlurredArea:
    """Blur ``means`` (the component's block means, level-shifted) for the MCU-aligned pixel ``area``.

    ``means`` is updated in place with the blurred area's block means, so that a later overlapping region
    blurs what this one left.
    """
    fx, fy = factors(layout, component)
    s = SUBDIVISIONS
    rows, columns = component_blocks(layout, component, area)
    total_rows, total_columns = blocks_of(layout, component)
    sigma_x, sigma_y = sigma / fx, sigma / fy  # in component samples
    # Context: 3 sigma (what the core's window reads) and one block more for the interpolation.
    context_y, context_x = math.ceil(3 * sigma_y / 8) + 1, math.ceil(3 * sigma_x / 8) + 1
    r0, r1 = max(0, rows.start - context_y), min(total_rows, rows.stop + context_y)
    c0, c1 = max(0, columns.start - context_x), min(total_columns, columns.stop + context_x)
    crop = means[r0:r1, c0:c1]
    fine = cv2.resize(crop, (crop.shape[1] * s, crop.shape[0] * s), interpolation=cv2.INTER_NEAREST)
    spacing = 8 / s  # samples between field points
    # The bilinear interpolation at the end adds a tent filter's variance (1/6 point spacing^2).
    field = _smooth(fine, _net_sigma(sigma_x / spacing), _net_sigma(sigma_y / spacing))
    # Block means the area leaves behind, for the next region.
    area_field = field[(rows.start - r0) * s : (rows.stop - r0) * s, (columns.start - c0) * s : (columns.stop - c0) * s]
    means[rows, columns] = cv2.resize(area_field, (columns.stop - columns.start, rows.stop - rows.start),
                                      interpolation=cv2.INTER_AREA)  # by a whole factor: the mean
    padded = cv2.copyMakeBorder(field, 1, 1, 1, 1, cv2.BORDER_REPLICATE)  # the core's upscale clamps at edges
    return BlurredArea(padded, r0, c0, rows, columns, _coefficient_matrix(layout.qtables[component].tobytes()))


def coefficients(blurred: BlurredArea, row_start: int, row_stop: int) -> np.ndarray:
    """The quantised coefficients, int16 (rows, columns, 8, 8), of block rows ``row_start:row_stop`` of the area."""
    s = SUBDIVISIONS
    columns = blurred.columns
    count_rows, count_columns = row_stop - row_start, columns.stop - columns.start
    top, left = (row_start - blurred.row0) * s, (columns.start - blurred.column0) * s
    neighbours = np.empty(((s + 2) ** 2, count_rows, count_columns), np.float32)  # one plane per neighbour
    index = 0
    for a in range(s + 2):
        for b in range(s + 2):
            neighbours[index] = blurred.field[
                top + a : top + a + count_rows * s : s, left + b : left + b + count_columns * s : s
            ]
            index += 1
    values = neighbours.reshape((s + 2) ** 2, -1).T @ blurred.matrix  # BLAS reads the transpose in place
    np.rint(values, out=values)
    return values.astype(np.int16).reshape(count_rows, count_columns, 8, 8)


class BlurredBlocks:
    """New coefficients of each area's block rows, computed a few rows at a time as a back end asks."""

    def __init__(self, areas: Sequence[Sequence[BlurredArea]]) -> None:
        self.areas = areas  # per edit, per component
        self._cache: dict[tuple[int, int], tuple[int, np.ndarray]] = {}

    def __call__(self, component: int, row: int, edit: int) -> np.ndarray:
        blurred = self.areas[edit][component]
        cached = self._cache.get((edit, component))
        if cached is None or not cached[0] <= row < cached[0] + cached[1].shape[0]:
            stop = min(blurred.rows.stop, row + _CHUNK_ROWS)
            cached = (row, coefficients(blurred, row, stop))
            self._cache[(edit, component)] = cached
        return cached[1][row - cached[0]]


def block_means(dc: np.ndarray, layout: BlockLayout, component: int) -> np.ndarray:
    """The block means (level-shifted sample values, float32) of a component from its DC terms."""
    return dc.astype(np.float32) * np.float32(layout.qtables[component][0, 0] / 8)


def clip_to_gamut(means: Sequence[np.ndarray], layout: BlockLayout, window: PixelBox | None = None) -> None:
    """Clip the block means of a colour image to displayable RGB, in place, as decoding would.

    Only the MCU-aligned pixel ``window`` is clipped (default: the whole image).

    A decoder clips each pixel's RGB to 0..255, and the core blurs those clipped pixels; YCbCr block
    means of an over-exposed sky or a white shirt lie outside that range (by up to ~20 levels), so
    blurring them unclipped would brighten the blurred area near such places. Each luma block is
    converted with the chroma means of its chroma block, clipped, and converted back; chroma blocks take
    the mean of their luma blocks' clipped chroma. Blocks inside the gamut are left exactly as they were.
    """
    if len(means) != 3:
        return
    if window is not None:
        means = [plane[component_blocks(layout, c, window)] for c, plane in enumerate(means)]  # views
    luma = means[0]
    rows, columns = luma.shape
    fx, fy = (layout.sampling[0][0], layout.sampling[0][1])  # luma blocks per chroma block, across and down
    chroma = [cv2.resize(c, (c.shape[1] * fx, c.shape[0] * fy), interpolation=cv2.INTER_NEAREST)[:rows, :columns]
              for c in means[1:]]
    ycc = cv2.merge([luma, *chroma])  # all level-shifted, as YCC_TO_RGB expects
    rgb = cv2.transform(ycc, YCC_TO_RGB)
    outside = ((rgb < 0) | (rgb > 255)).any(axis=2)
    if not outside.any():
        return
    clipped = cv2.transform(np.clip(rgb, 0, 255), RGB_TO_YCC)
    luma[outside] = clipped[..., 0][outside]
    for index, plane in enumerate(means[1:], start=1):
        values = np.where(outside, clipped[..., index], chroma[index - 1])
        padded = cv2.copyMakeBorder(values, 0, -rows % fy, 0, -columns % fx, cv2.BORDER_REPLICATE)
        averaged = cv2.resize(padded, (padded.shape[1] // fx, padded.shape[0] // fy), interpolation=cv2.INTER_AREA)
        plane[...] = averaged[: plane.shape[0], : plane.shape[1]]


def _net_sigma(sigma: float) -> float:
    return math.sqrt(max(sigma**2 - 1 / 6, 0.25))


def _smooth(field: np.ndarray, sigma_x: float, sigma_y: float) -> np.ndarray:
    """A Gaussian blur with ``sigma_x`` / ``sigma_y`` (in field points), flat in cost like the core's.

    The core's scheme (:func:`.blur.gaussian_blur`), with a factor per axis: area-downscale by
    ``sigma / 2.5``, a small Gaussian, linear upscale, each resize's variance taken off the Gaussian's.
    """
    factor_x, factor_y = max(1, int(sigma_x / 2.5)), max(1, int(sigma_y / 2.5))
    if factor_x == factor_y == 1:
        return cv2.GaussianBlur(field, (0, 0), sigma_x, sigmaY=sigma_y, borderType=cv2.BORDER_REFLECT)
    height, width = field.shape
    padded = cv2.copyMakeBorder(field, 0, -height % factor_y, 0, -width % factor_x, cv2.BORDER_REFLECT)
    padded_height, padded_width = padded.shape
    small = cv2.resize(padded, (padded_width // factor_x, padded_height // factor_y), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), _residual(sigma_x, factor_x), sigmaY=_residual(sigma_y, factor_y),
                             borderType=cv2.BORDER_REFLECT)
    large = cv2.resize(small, (padded_width, padded_height), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(large[:height, :width])


def _residual(sigma: float, factor: int) -> float:
    """The small Gaussian's sigma (in downscaled points) once the two resizes' variances are taken off."""
    if factor == 1:
        return sigma
    return math.sqrt(max(sigma**2 - (factor**2 - 1) / 12 - factor**2 / 6, 0.25)) / factor


@functools.lru_cache(maxsize=32)
def _coefficient_matrix(table: bytes) -> np.ndarray:
    """((S+2)^2, 64): field values around a block -> its coefficients divided by the quantisation table.

    Sample ``k`` of a block (centre at ``k + 0.5``) lies between two of the field's points, spaced
    ``8 / S`` samples apart with the first at the block's start + half a spacing; bilinear weights give
    an (8, S+2) map from the S + 2 points along each axis (one before the block, S inside, one after) to
    the block's 8 samples. The 2-D coefficients are ``(D W) N (D W)^T`` for the DCT matrix ``D``.
    """
    s = SUBDIVISIONS
    spacing = 8 / s
    weights = np.zeros((8, s + 2))
    for k in range(8):
        position = (k + 0.5) / spacing - 0.5  # in points, 0 = the block's first point
        first = math.floor(position)
        fraction = position - first
        weights[k, first + 1] += 1 - fraction
        weights[k, first + 2] += fraction
    transform = dct_matrix() @ weights  # (8 frequencies, S+2 points)
    matrix = np.einsum("ua,vb->abuv", transform, transform).reshape((s + 2) ** 2, 64)
    steps = np.frombuffer(table, np.float32).astype(np.float64)
    return (matrix / steps[None, :]).astype(np.float32)
