"""JPEG blocks <-> pixels in numpy: the exact path of block-wise editing, and the 1/8-scale picture.

Used where the block-wise path needs real pixels (weak blurs, ellipses, pixelation, filling): the window's
pixels are computed from the coefficients with an exact floating-point IDCT, JFIF YCbCr and linear chroma
upsampling, as decoders do; edited pixels go back through JFIF YCbCr, box-filter chroma downsampling and an
exact FDCT, as libjpeg's encoder does. Each component's transform is one (blocks x 64) @ (64 x 64) float32
product: a single BLAS call, with the quantisation table folded into the matrix. Pure functions on arrays.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np

from .jpeg_blocks import BlockLayout, component_blocks, factors
from .regions import PixelBox


def shift(box: PixelBox, window: PixelBox) -> PixelBox:
    return box.shifted(-window.x0, -window.y0)


def dct_matrix() -> np.ndarray:
    """The orthonormal 8-point DCT-II matrix; JPEG's 2-D FDCT is ``D @ block @ D.T``."""
    u = np.arange(8)[:, None]
    x = np.arange(8)[None, :]
    matrix = np.cos((2 * x + 1) * u * np.pi / 16) * np.sqrt(2 / 8)
    matrix[0] /= np.sqrt(2)
    return matrix


def _block_transforms() -> tuple[np.ndarray, np.ndarray]:
    """The 2-D IDCT and FDCT of a flattened 8 x 8 block as 64 x 64 matrices: ``vector @ matrix``.

    One (blocks x 64) @ (64 x 64) product per component is a single BLAS call, many times faster than
    numpy's batched 8 x 8 products; the quantisation tables fold into the matrices (:func:`_transforms`).
    """
    dct = dct_matrix()
    basis = np.eye(64).reshape(64, 8, 8)
    return (dct.T @ basis @ dct).reshape(64, 64), (dct @ basis @ dct.T).reshape(64, 64)


_IDCT64, _FDCT64 = _block_transforms()


@functools.lru_cache(maxsize=32)
def _quarter_transform(table: bytes) -> np.ndarray:
    """(64, 4): a block's quantised coefficients -> the mean of each 4 x 4 quarter (down, across).

    Only the frequencies 0, 1, 3, 5 and 7 each way contribute (the other basis functions average to
    zero over half a block).
    """
    halves = dct_matrix().reshape(8, 2, 4).mean(axis=2)  # (frequency, half)
    matrix = np.einsum("uq,vp->uvqp", halves, halves).reshape(64, 4)
    steps = np.frombuffer(table, np.float32).astype(np.float64)
    return (matrix * steps[:, None]).astype(np.float32)
# JFIF colour conversion as 3 x 4 affine maps for cv2.transform, with JPEG's level shift of 128 folded in:
# (Y + 128, Cb, Cr) -> RGB, and RGB -> (Y - 128, Cb, Cr).
YCC_TO_RGB = np.array([
    [1.0, 0.0, 1.402, 128.0], [1.0, -0.344136, -0.714136, 128.0], [1.0, 1.772, 0.0, 128.0],
], np.float32)
RGB_TO_YCC = np.array([
    [0.299, 0.587, 0.114, -128.0], [-0.168736, -0.331264, 0.5, 0.0], [0.5, -0.418688, -0.081312, 0.0],
], np.float32)


@functools.lru_cache(maxsize=32)
def _transforms(table: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(dequantise + IDCT, FDCT + divide by the table) for a quantisation table given as 64 float32 bytes."""
    steps = np.frombuffer(table, np.float32).astype(np.float64)
    return (steps[:, None] * _IDCT64).astype(np.float32), (_FDCT64 / steps[None, :]).astype(np.float32)


def decode_window(planes: Sequence[np.ndarray], layout: BlockLayout, window: PixelBox) -> np.ndarray:
    """The window's pixels (RGB uint8, or grey for one component) decoded from the coefficients.

    ``planes`` hold each component's blocks as (block rows, block columns, 8, 8) arrays (or views).
    """
    samples = []
    for component, plane in enumerate(planes):
        rows, columns = component_blocks(layout, component, window)
        blocks = plane[rows, columns]
        inverse, _ = _transforms(layout.qtables[component].tobytes())
        values = blocks.reshape(-1, 64).astype(np.float32) @ inverse
        values = _from_blocks(values.reshape(blocks.shape))
        samples.append(_upsample(values, layout, component, window))
    if not layout.colour:
        return _to_uint8(samples[0] + np.float32(128.0))
    return _to_uint8(cv2.transform(cv2.merge(samples), YCC_TO_RGB))


def decode_context(planes: Sequence[np.ndarray], layout: BlockLayout, window: PixelBox) -> np.ndarray:
    """The window's pixels approximated from the DC coefficients only (see :data:`.jpeg_lossless.DC_CONTEXT_MIN_SIGMA`).

    Colours are converted at one value per luma block, then interpolated linearly to full size.
    """
    small = eighth_scale([plane[component_blocks(layout, c, window)] for c, plane in enumerate(planes)], layout)
    size = (small.shape[1] * 8, small.shape[0] * 8)
    full = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(full[: window.height, : window.width])


def eighth_scale(planes: Sequence[np.ndarray], layout: BlockLayout) -> np.ndarray:
    """One RGB (or grey) uint8 pixel per luma block, from the DC coefficients: a 1/8-scale picture.

    ``planes`` are MCU-aligned (block rows, block columns, 8, 8) blocks of each component (or their DC
    terms alone, (block rows, block columns)). This is what libjpeg's 1/8-scale decode computes.
    """
    samples = []
    for component, plane in enumerate(planes):
        dc = plane if plane.ndim == 2 else plane[:, :, 0, 0]
        samples.append(dc.astype(np.float32) * np.float32(layout.qtables[component][0, 0] / 8))
    return _picture(samples, layout)


def quarter_scale(planes: Sequence[np.ndarray], layout: BlockLayout) -> np.ndarray:
    """2 x 2 RGB (or grey) uint8 pixels per luma block: each the mean of a 4 x 4 quarter of its block.

    ``planes`` are each component's (block rows, block columns, 8, 8) coefficients; one small product
    per component, so previews of small photographs need no second decode of the output.
    """
    samples = []
    for component, blocks in enumerate(planes):
        rows, columns = blocks.shape[:2]
        quarters = blocks.reshape(-1, 64).astype(np.float32) @ _quarter_transform(layout.qtables[component].tobytes())
        samples.append(np.ascontiguousarray(
            quarters.reshape(rows, columns, 2, 2).transpose(0, 2, 1, 3).reshape(rows * 2, columns * 2)))
    return _picture(samples, layout)


def _picture(samples: list[np.ndarray], layout: BlockLayout) -> np.ndarray:
    """Level-shifted sample planes of each component, at its own subsampling, as one RGB (or grey) uint8
    picture at the luma plane's resolution: chroma planes upsampled, all cropped to a common size."""
    full = []
    for component, plane in enumerate(samples):
        fx, fy = factors(layout, component)
        if (fx, fy) != (1, 1):
            plane = cv2.resize(plane, (plane.shape[1] * fx, plane.shape[0] * fy), interpolation=cv2.INTER_LINEAR)
        full.append(plane)
    rows = min(s.shape[0] for s in full)
    columns = min(s.shape[1] for s in full)
    full = [np.ascontiguousarray(s[:rows, :columns]) for s in full]
    if not layout.colour:
        return _to_uint8(full[0] + np.float32(128.0))
    return _to_uint8(cv2.transform(cv2.merge(full), YCC_TO_RGB))


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Round to the nearest integer and clip to 0..255, as decoders do (one pass each, in OpenCV)."""
    return cv2.convertScaleAbs(np.maximum(values, 0, out=values))


def encode_area(
    planes: Sequence[np.ndarray], layout: BlockLayout, pixels: np.ndarray, window: PixelBox, area: PixelBox
) -> None:
    """Replace the coefficients of every block in the MCU-aligned ``area`` by those of ``pixels`` there."""
    local = shift(area, window)
    patch = pixels[local.y0 : local.y1, local.x0 : local.x1]
    mw, mh = layout.mcu_width, layout.mcu_height
    # Partial MCUs at the right and bottom edges: replicate the last column / row, as libjpeg does.
    pad_y, pad_x = -(-patch.shape[0] // mh) * mh - patch.shape[0], -(-patch.shape[1] // mw) * mw - patch.shape[1]
    if pad_y or pad_x:
        patch = cv2.copyMakeBorder(patch, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
    if layout.colour:
        samples = cv2.split(cv2.transform(patch.astype(np.float32), RGB_TO_YCC))
    else:
        samples = (patch.astype(np.float32) - np.float32(128.0),)
    for component, plane in enumerate(planes):
        values = _downsample(samples[component], layout, component)
        _, forward = _transforms(layout.qtables[component].tobytes())
        blocks = as_blocks(values)
        quantised = np.rint(np.ascontiguousarray(blocks).reshape(-1, 64) @ forward).reshape(blocks.shape)
        rows, columns = component_blocks(layout, component, area)
        plane[rows, columns] = quantised[: rows.stop - rows.start, : columns.stop - columns.start]


def as_blocks(plane: np.ndarray) -> np.ndarray:
    """(8R, 8C) -> (R, C, 8, 8)."""
    rows, columns = plane.shape[0] // 8, plane.shape[1] // 8
    return plane.reshape(rows, 8, columns, 8).transpose(0, 2, 1, 3)


def _from_blocks(blocks: np.ndarray) -> np.ndarray:
    """(R, C, 8, 8) -> (8R, 8C)."""
    rows, columns = blocks.shape[:2]
    return blocks.transpose(0, 2, 1, 3).reshape(rows * 8, columns * 8)


def _upsample(values: np.ndarray, layout: BlockLayout, component: int, window: PixelBox) -> np.ndarray:
    """Component samples to full resolution (linear, like libjpeg's fancy upsampling), cropped to ``window``."""
    fx, fy = factors(layout, component)
    if (fx, fy) != (1, 1):
        size = (values.shape[1] * fx, values.shape[0] * fy)
        values = cv2.resize(values, size, interpolation=cv2.INTER_LINEAR)
    return values[: window.height, : window.width]


def _downsample(values: np.ndarray, layout: BlockLayout, component: int) -> np.ndarray:
    """Full-resolution samples to the component's resolution by averaging (libjpeg's box filter).

    ``cv2.INTER_AREA`` by a whole factor is exactly that average."""
    fx, fy = factors(layout, component)
    if (fx, fy) == (1, 1):
        return values
    return cv2.resize(values, (values.shape[1] // fx, values.shape[0] // fy), interpolation=cv2.INTER_AREA)
