"""Blur a JPEG by rewriting only the 8x8 blocks a region touches: the rest of the photograph stays lossless.

Every other tool decodes and re-encodes the whole photograph to blur one hiker, so the scientific record
(everything that is not the hiker) loses quality each time. A JPEG is a grid of DCT blocks; this module
reads the quantised DCT coefficients, replaces those of the blocks under each blurred region with
coefficients computed from the blurred pixels (with the file's own quantisation tables), and writes the
coefficients back. Every other block is bit-identical to the input's.

What the user sees
------------------
* **The blurred area rounds out to whole MCUs.** A rectangle region grows outwards to the file's MCU grid
  (8 or 16 pixels, depending on chroma subsampling), so it is up to 15 pixels larger on each side than the
  core's re-encoding path would blur. The blur's strength (sigma) is the region's own, unchanged.
  An ellipse is hidden exactly as the core hides it (the ellipse inscribed in the *original* box: the one
  inscribed in a grown box need not cover it); the MCUs it touches are re-encoded, the pixels around the
  ellipse are decoded and re-encoded unchanged.
* Quantisation tables, component identifiers and sampling factors, Huffman table slots, restart interval
  and baseline/progressive mode stay those of the input. With pyjpegio a baseline file keeps its own
  Huffman tables (if the new blocks need a code those tables lack, optimal tables are built instead);
  with TurboJPEG it gets libjpeg's standard tables (those most cameras use); a progressive file
  is written with libjpeg's standard progression (its scan script may differ from the input's; the
  coefficients do not).
* The output carries no metadata except the JFIF/Adobe headers that say how to read the colours: the
  caller (:mod:`.codecs`) splices in its sanitised copy of the original's APPn/COM segments.
* Decoders interpolate chroma across block edges, so pixels within one chroma sample (1-2 px) of a
  grown region's border can change in colour, never in brightness.

Why this implementation
-----------------------
Two back ends move the coefficients; the numpy code here (window decode, blur, re-coding) is shared.

* :mod:`.jpeg_turbo` (preferred, ``backend="auto"``): the system's libjpeg-turbo through ``ctypes``,
  ``tjTransform`` with a custom filter. It costs one entropy decode + encode, the floor of any block-wise
  edit, but needs ``libturbojpeg`` installed (Linux packages; not from the Python registry), and files
  with a restart interval go to pyjpegio (libjpeg-turbo 2.x's transform drops restart markers).
* ``pyjpegio`` (import name ``jpegio``, Apache-2.0): its wheels bundle libjpeg-turbo for Linux, Windows
  and macOS, so R users get it from the registry with no compiler or system library. Unlike ``jpeglib``
  (whose writer neither keeps the restart interval nor writes progressive files, and decodes the source
  twice per write), it keeps the restart interval, the progressive mode and the input's Huffman tables,
  and turns libjpeg errors into exceptions instead of exiting the process. It is slower: reading and
  writing every coefficient through it costs more than decoding and re-encoding the photograph.

Pixels are computed from the coefficients only for a window around the regions (region + 3 sigma of
context, on the MCU grid; for blurs from sigma 20 the context outside the re-encoded areas from DC terms
only, see :data:`DC_CONTEXT_MIN_SIGMA`) with an exact floating-point IDCT, JFIF YCbCr and linear chroma upsampling, as
decoders do; the blurred pixels go back through JFIF YCbCr, box-filter chroma downsampling and an exact
FDCT, as libjpeg's encoder does. The blur itself is :func:`.blur.hide_regions`, the core's.

If neither back end is available, or the file is arithmetic-coded, 12-bit, CMYK/YCCK, RGB-coded, lossless or
hierarchical, or has sampling factors other than 4:4:4, 4:2:2, 4:4:0 and 4:2:0 style (chroma at 1x1,
luma at 1 or 2 each way), :class:`LosslessUnsupported` is raised and the caller re-encodes instead.
"""

from __future__ import annotations

import functools
import math
import os
import struct
import tempfile
from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np

from . import jpeg
from .blur import hide_regions
from .regions import PixelBox, Region

MARKER_DQT = 0xDB
SUPPORTED_FRAMES = {0xC0: "baseline", 0xC1: "extended sequential", 0xC2: "progressive"}
_ADOBE = b"Adobe"
_JFIF = b"JFIF\x00"
# Zigzag position -> natural (row-major) index, as in the JPEG standard's Figure A.6.
_ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7,
    14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39,
    46, 53, 60, 61, 54, 47, 55, 62, 63,
])


class LosslessUnsupported(Exception):
    """This JPEG cannot be edited block-wise (message says why); the core re-encodes instead."""


@dataclass(frozen=True)
class BlockLayout:
    """Geometry of a supported JPEG: image size, MCU size and, per component, sampling and table."""

    width: int
    height: int
    mcu_width: int
    mcu_height: int
    sampling: tuple[tuple[int, int], ...]  # (h, v) per component
    qtables: tuple[np.ndarray, ...]  # 8 x 8 natural order, float32, per component
    progressive: bool
    restart_interval: int

    @property
    def colour(self) -> bool:
        return len(self.sampling) == 3


BACKENDS = ("turbojpeg", "pyjpegio")
"""Coefficient back ends, fastest first (see :mod:`.jpeg_turbo` and the module docstring)."""


@dataclass(frozen=True)
class EditedJpeg:
    """A block-wise edited JPEG and, where the back end saw every DC term (TurboJPEG), the edited
    picture at 1/8 scale (RGB or grey uint8, one pixel per luma block) to render previews from."""

    data: bytes
    eighth_scale: np.ndarray | None = None


def blur_jpeg_blocks(data: bytes, regions: Sequence[Region], method: str, backend: str = "auto") -> bytes:
    """A JPEG of ``data`` with ``regions`` (stored pixel frame) hidden: :func:`edit_jpeg_blocks`'s bytes."""
    return edit_jpeg_blocks(data, regions, method, backend).data


def edit_jpeg_blocks(data: bytes, regions: Sequence[Region], method: str, backend: str = "auto") -> EditedJpeg:
    """A JPEG of ``data`` with ``regions`` (stored pixel frame) hidden, every other block bit-identical.

    ``backend`` is ``"auto"`` (libjpeg-turbo's transform API where the system has ``libturbojpeg`` and
    the file has no restart markers, else pyjpegio), ``"turbojpeg"`` or ``"pyjpegio"``.
    Raises :class:`LosslessUnsupported` when the file cannot be edited block-wise (by the back end
    asked for, or by any with ``"auto"``), and :class:`~trapblur.errors.ImageError` when it is broken.
    Never returns a partly edited image.
    """
    if backend not in ("auto",) + BACKENDS:
        raise ValueError(f"backend must be 'auto' or one of {', '.join(BACKENDS)}, not {backend!r}")
    layout = read_block_layout(data)
    edits = [edit_for(region, layout) for region in regions]
    edits = [(hide, area) for hide, area in edits if not area.empty]
    if not edits:
        return EditedJpeg(data)
    if backend in ("auto", "turbojpeg"):
        from . import jpeg_turbo  # noqa: PLC0415 - it imports this module

        try:
            return EditedJpeg(*jpeg_turbo.blur_blocks(data, layout, edits, method))
        except LosslessUnsupported:
            if backend == "turbojpeg":
                raise
    return EditedJpeg(_blur_with_jpegio(data, layout, edits, method))


def _blur_with_jpegio(
    data: bytes, layout: BlockLayout, edits: Sequence[tuple[Region, PixelBox]], method: str
) -> bytes:
    codec = _import_jpegio()
    with tempfile.TemporaryDirectory(prefix="trapblur-") as folder:
        source_path = os.path.join(folder, "in.jpg")
        with open(source_path, "wb") as stream:
            stream.write(data)
        try:
            coefficients = codec.read(source_path)
        except Exception as exc:  # libjpeg's errors arrive as RuntimeError
            raise LosslessUnsupported(f"cannot read the DCT coefficients ({exc})") from None
        _check_agrees(coefficients, layout)
        # Block views of pyjpegio's (8 x rows, 8 x columns) arrays: writes go through to them.
        recode_blocks([_as_blocks(np.asarray(array)) for array in coefficients.coef_arrays], layout, edits, method)
        coefficients.markers = [m for m in coefficients.markers if _keep_marker(m)]
        return _write(coefficients, os.path.join(folder, "out.jpg"))


def recode_blocks(
    planes: Sequence[np.ndarray], layout: BlockLayout, edits: Sequence[tuple[Region, PixelBox]], method: str
) -> None:
    """Hide the regions in the coefficient ``planes`` (modified in place), whichever back end read them.

    Each plane is one component's quantised coefficients as a (block rows, block columns, 8, 8) array (or
    view), each block in natural order. Only the blocks in :func:`edit_window` are read and only
    those in the edits' areas are written, so a back end may fill in just those.
    """
    window = edit_window(edits, layout, method)
    if method == "gaussian" and min(hide.sigma for hide, _ in edits) >= DC_CONTEXT_MIN_SIGMA:
        pixels = decode_context(planes, layout, window)
        for _, area in edits:  # exact pixels where they are re-encoded, and one MCU around (chroma)
            exact = mcu_aligned(area.grown(max(layout.mcu_width, layout.mcu_height), layout.width, layout.height),
                                layout)
            local = _shift(exact, window)
            pixels[local.y0 : local.y1, local.x0 : local.x1] = decode_window(planes, layout, exact)
    else:
        pixels = decode_window(planes, layout, window)
    hide_regions(pixels, [Region(_shift(h.box, window), h.sigma, h.shape) for h, _ in edits], method)
    for _, area in edits:
        encode_area(planes, layout, pixels, window, area)


# ----------------------------------------------------------------------------------------------------------
# What the file is


def read_block_layout(data: bytes) -> BlockLayout:
    """The geometry of ``data``, or :class:`LosslessUnsupported` saying why it cannot be edited block-wise."""
    structure = jpeg.parse_jpeg(data)
    kind = SUPPORTED_FRAMES.get(structure.frame_marker)
    if kind is None:
        coding = "arithmetic" if structure.arithmetic else "lossless or hierarchical"
        raise LosslessUnsupported(f"{coding} JPEG (frame marker 0x{structure.frame_marker:02X})")
    if structure.precision != 8:
        raise LosslessUnsupported(f"{structure.precision}-bit JPEG (only 8-bit samples are supported)")
    components = structure.components
    if len(components) not in (1, 3):
        raise LosslessUnsupported(f"{len(components)} colour components (CMYK/YCCK or unusual layout)")
    if len(components) == 3 and _adobe_transform(data, structure) == 0:
        raise LosslessUnsupported("RGB-coded JPEG (Adobe transform 0)")
    sampling = tuple((c.h_sampling, c.v_sampling) for c in components)
    luma_h, luma_v = sampling[0]
    if len(components) == 1:
        sampling = ((1, 1),)  # a single component is never subsampled, whatever its header says
    elif luma_h not in (1, 2) or luma_v not in (1, 2) or sampling[1:] != ((1, 1), (1, 1)):
        raise LosslessUnsupported(f"unsupported chroma sampling factors {sampling}")
    tables = _quantisation_tables(data, structure)
    try:
        qtables = tuple(tables[c.table] for c in components)
    except KeyError as exc:
        raise LosslessUnsupported(f"quantisation table {exc} is not defined") from None
    max_h = max(h for h, _ in sampling)
    max_v = max(v for _, v in sampling)
    return BlockLayout(
        structure.width, structure.height, 8 * max_h, 8 * max_v, sampling, qtables,
        structure.progressive, structure.restart_interval,
    )


def _adobe_transform(data: bytes, structure: jpeg.JpegLayout) -> int | None:
    for segment in structure.metadata_segments:
        payload = data[segment.start + 4 : segment.end]
        if segment.marker == jpeg.APP0 + 14 and payload.startswith(_ADOBE) and len(payload) >= 12:
            return payload[11]
    return None


def _quantisation_tables(data: bytes, structure: jpeg.JpegLayout) -> dict[int, np.ndarray]:
    """Table slot -> 8 x 8 table in natural order. A slot redefined with other values is refused."""
    tables: dict[int, np.ndarray] = {}
    for segment in structure.segments:
        if segment.marker != MARKER_DQT:
            continue
        position, end = segment.start + 4, segment.end
        while position < end:
            precision, slot = data[position] >> 4, data[position] & 0x0F
            count = 128 if precision else 64
            raw = data[position + 1 : position + 1 + count]
            if len(raw) != count or precision > 1:
                raise LosslessUnsupported("malformed quantisation table")
            values = struct.unpack(">64H", raw) if precision else tuple(raw)
            table = np.zeros(64, np.float32)
            table[_ZIGZAG] = values
            table = table.reshape(8, 8)
            if slot in tables and not np.array_equal(tables[slot], table):
                raise LosslessUnsupported("a quantisation table is redefined between scans")
            if not table.all():
                raise LosslessUnsupported("a quantisation table has a zero entry")
            tables[slot] = table
            position += 1 + count
    return tables


def _import_jpegio() -> Any:
    try:
        import jpegio  # noqa: PLC0415 - optional at run time: without it the core re-encodes
    except ImportError:
        raise LosslessUnsupported("the 'pyjpegio' package is not installed") from None
    return jpegio


def _check_agrees(coefficients: Any, layout: BlockLayout) -> None:
    """Refuse when libjpeg read the file otherwise than our header parse (never write what we misread)."""
    sampling = tuple((c.h_samp_factor, c.v_samp_factor) for c in coefficients.comp_info)
    if len(sampling) == 1:
        sampling = ((1, 1),)
    expected = [blocks_of(layout, c) for c in range(len(layout.sampling))]
    actual = [(a.shape[0] // 8, a.shape[1] // 8) for a in coefficients.coef_arrays]
    if (
        (coefficients.image_width, coefficients.image_height) != (layout.width, layout.height)
        or sampling != layout.sampling
        or bool(coefficients.progressive_mode) != layout.progressive
        or coefficients.restart_interval != layout.restart_interval
        or actual != expected
    ):
        raise LosslessUnsupported("libjpeg reads this file's layout differently from its headers")


def blocks_of(layout: BlockLayout, component: int) -> tuple[int, int]:
    """(rows, columns) of 8x8 blocks that hold component ``component``'s samples."""
    h, v = layout.sampling[component]
    max_h, max_v = layout.mcu_width // 8, layout.mcu_height // 8
    return (
        math.ceil(math.ceil(layout.height * v / max_v) / 8),
        math.ceil(math.ceil(layout.width * h / max_h) / 8),
    )


# ----------------------------------------------------------------------------------------------------------
# Where to edit


def mcu_aligned(box: PixelBox, layout: BlockLayout) -> PixelBox:
    """``box`` grown outwards to the MCU grid, clipped to the image (partial MCUs at the edges included)."""
    mw, mh = layout.mcu_width, layout.mcu_height
    return PixelBox(
        max(0, box.x0 // mw * mw), max(0, box.y0 // mh * mh),
        min(layout.width, -(-box.x1 // mw) * mw), min(layout.height, -(-box.y1 // mh) * mh),
    )


def edit_for(region: Region, layout: BlockLayout) -> tuple[Region, PixelBox]:
    """The region to hide and the MCU-aligned area whose blocks are re-encoded."""
    clipped = PixelBox(
        max(0, region.box.x0), max(0, region.box.y0),
        min(layout.width, region.box.x1), min(layout.height, region.box.y1),
    )
    if clipped.empty:
        return region, PixelBox(0, 0, 0, 0)
    area = mcu_aligned(clipped, layout)
    hide = Region(area, region.sigma, region.shape) if region.shape == "rectangle" else region
    return hide, area


def edit_window(edits: Sequence[tuple[Region, PixelBox]], layout: BlockLayout, method: str) -> PixelBox:
    """The MCU-aligned pixels the blur reads: every region with the context ``hide_regions`` reads."""
    boxes = []
    for hide, area in edits:
        margin = math.ceil(3 * hide.sigma) if method == "gaussian" else 0
        boxes.append(hide.box.grown(margin, layout.width, layout.height))
        boxes.append(area)
    union = PixelBox(
        min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes), max(b.y1 for b in boxes)
    )
    return mcu_aligned(union, layout)


def _shift(box: PixelBox, window: PixelBox) -> PixelBox:
    return box.shifted(-window.x0, -window.y0)


def component_blocks(layout: BlockLayout, component: int, area: PixelBox) -> tuple[slice, slice]:
    """Block rows and columns of ``component`` inside the MCU-aligned pixel ``area``."""
    h, v = layout.sampling[component]
    mw, mh = layout.mcu_width, layout.mcu_height
    rows, columns = blocks_of(layout, component)
    return (
        slice(area.y0 // mh * v, min(rows, -(-area.y1 // mh) * v)),
        slice(area.x0 // mw * h, min(columns, -(-area.x1 // mw) * h)),
    )


# ----------------------------------------------------------------------------------------------------------
# Coefficients <-> pixels


def _dct_matrix() -> np.ndarray:
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
    dct = _dct_matrix()
    basis = np.eye(64).reshape(64, 8, 8)
    return (dct.T @ basis @ dct).reshape(64, 64), (dct @ basis @ dct.T).reshape(64, 64)


_IDCT64, _FDCT64 = _block_transforms()
# JFIF colour conversion as 3 x 4 affine maps for cv2.transform, with JPEG's level shift of 128 folded in:
# (Y + 128, Cb, Cr) -> RGB, and RGB -> (Y - 128, Cb, Cr).
_YCC_TO_RGB = np.array([
    [1.0, 0.0, 1.402, 128.0], [1.0, -0.344136, -0.714136, 128.0], [1.0, 1.772, 0.0, 128.0],
], np.float32)
_RGB_TO_YCC = np.array([
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
    return _to_uint8(cv2.transform(cv2.merge(samples), _YCC_TO_RGB))


DC_CONTEXT_MIN_SIGMA = 20.0
"""From this sigma on, the blur's context around the grown regions is decoded from block means only.

The core's Gaussian (:func:`.blur.gaussian_blur`) starts by averaging the pixels over cells of
``sigma / 2.5`` pixels, 8 or more from sigma 20: the detail inside an 8 x 8 block is averaged away
anyway. So for such blurs the pixels *around* the re-encoded areas (the 3-sigma context, often several
times larger than the region itself) are rebuilt from the DC coefficients alone (block means,
interpolated linearly) instead of a full inverse DCT; the areas themselves and one MCU around them are
decoded exactly. The blurred result differs from the exact-decode one by well under one grey level
(tests/test_jpeg_lossless.py checks >= 45 dB PSNR, the bound the core's own approximation is held to).
"""


def decode_context(planes: Sequence[np.ndarray], layout: BlockLayout, window: PixelBox) -> np.ndarray:
    """The window's pixels approximated from the DC coefficients only (see :data:`DC_CONTEXT_MIN_SIGMA`).

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
        means = dc.astype(np.float32) * np.float32(layout.qtables[component][0, 0] / 8)
        fx, fy = _factors(layout, component)
        if (fx, fy) != (1, 1):
            means = cv2.resize(means, (means.shape[1] * fx, means.shape[0] * fy), interpolation=cv2.INTER_LINEAR)
        samples.append(means)
    rows = min(s.shape[0] for s in samples)
    columns = min(s.shape[1] for s in samples)
    samples = [np.ascontiguousarray(s[:rows, :columns]) for s in samples]
    if not layout.colour:
        return _to_uint8(samples[0] + np.float32(128.0))
    return _to_uint8(cv2.transform(cv2.merge(samples), _YCC_TO_RGB))


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Round to the nearest integer and clip to 0..255, as decoders do (one pass each, in OpenCV)."""
    return cv2.convertScaleAbs(np.maximum(values, 0, out=values))


def encode_area(
    planes: Sequence[np.ndarray], layout: BlockLayout, pixels: np.ndarray, window: PixelBox, area: PixelBox
) -> None:
    """Replace the coefficients of every block in the MCU-aligned ``area`` by those of ``pixels`` there."""
    local = _shift(area, window)
    patch = pixels[local.y0 : local.y1, local.x0 : local.x1]
    mw, mh = layout.mcu_width, layout.mcu_height
    # Partial MCUs at the right and bottom edges: replicate the last column / row, as libjpeg does.
    pad_y, pad_x = -(-patch.shape[0] // mh) * mh - patch.shape[0], -(-patch.shape[1] // mw) * mw - patch.shape[1]
    if pad_y or pad_x:
        patch = cv2.copyMakeBorder(patch, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
    if layout.colour:
        samples = cv2.split(cv2.transform(patch.astype(np.float32), _RGB_TO_YCC))
    else:
        samples = (patch.astype(np.float32) - np.float32(128.0),)
    for component, plane in enumerate(planes):
        values = _downsample(samples[component], layout, component)
        _, forward = _transforms(layout.qtables[component].tobytes())
        blocks = _as_blocks(values)
        quantised = np.rint(np.ascontiguousarray(blocks).reshape(-1, 64) @ forward).reshape(blocks.shape)
        rows, columns = component_blocks(layout, component, area)
        plane[rows, columns] = quantised[: rows.stop - rows.start, : columns.stop - columns.start]


def _as_blocks(plane: np.ndarray) -> np.ndarray:
    """(8R, 8C) -> (R, C, 8, 8)."""
    rows, columns = plane.shape[0] // 8, plane.shape[1] // 8
    return plane.reshape(rows, 8, columns, 8).transpose(0, 2, 1, 3)


def _from_blocks(blocks: np.ndarray) -> np.ndarray:
    """(R, C, 8, 8) -> (8R, 8C)."""
    rows, columns = blocks.shape[:2]
    return blocks.transpose(0, 2, 1, 3).reshape(rows * 8, columns * 8)


def _factors(layout: BlockLayout, component: int) -> tuple[int, int]:
    h, v = layout.sampling[component]
    return layout.mcu_width // 8 // h, layout.mcu_height // 8 // v


def _upsample(values: np.ndarray, layout: BlockLayout, component: int, window: PixelBox) -> np.ndarray:
    """Component samples to full resolution (linear, like libjpeg's fancy upsampling), cropped to ``window``."""
    fx, fy = _factors(layout, component)
    if (fx, fy) != (1, 1):
        size = (values.shape[1] * fx, values.shape[0] * fy)
        values = cv2.resize(values, size, interpolation=cv2.INTER_LINEAR)
    return values[: window.height, : window.width]


def _downsample(values: np.ndarray, layout: BlockLayout, component: int) -> np.ndarray:
    """Full-resolution samples to the component's resolution by averaging (libjpeg's box filter).

    ``cv2.INTER_AREA`` by a whole factor is exactly that average."""
    fx, fy = _factors(layout, component)
    if (fx, fy) == (1, 1):
        return values
    return cv2.resize(values, (values.shape[1] // fx, values.shape[0] // fy), interpolation=cv2.INTER_AREA)


# ----------------------------------------------------------------------------------------------------------
# Writing


def _keep_marker(marker: dict[str, Any]) -> bool:
    """Keep only the headers that say how to read the colours; the caller attaches the real metadata."""
    data = bytes(marker.get("data", b""))
    return (marker.get("type") == jpeg.APP0 and data.startswith(_JFIF)) or (
        marker.get("type") == jpeg.APP0 + 14 and data.startswith(_ADOBE)
    )


_DC_SYMBOLS = frozenset(range(12))
_AC_SYMBOLS = frozenset({0x00, 0xF0} | {run << 4 | size for run in range(16) for size in range(1, 11)})


def _write(coefficients: Any, path: str) -> bytes:
    """Write the coefficients, with the input's Huffman tables where they can code any block.

    Reusing the input's tables keeps the file's size and saves building new ones, but a file written with
    optimised tables may lack the codes a new block needs, and libjpeg-turbo then writes a corrupt stream
    without a word: such files get optimal tables instead. (Progressive files always get optimal tables.)
    """
    if not coefficients.progressive_mode and not _complete_huffman_tables(coefficients):
        coefficients.optimize_coding = True
    try:
        coefficients.write(path)
    except Exception as exc:  # libjpeg's errors arrive as RuntimeError
        raise LosslessUnsupported(f"cannot write the DCT coefficients ({exc})") from None
    with open(path, "rb") as stream:
        return stream.read()


def _complete_huffman_tables(coefficients: Any) -> bool:
    """Whether every Huffman table has a code for every symbol an 8-bit block can need."""

    def symbols(table: dict[str, Any]) -> set[int]:
        return set(int(s) for s in np.asarray(table["symbols"])[: int(np.asarray(table["counts"]).sum())])

    dc, ac = coefficients.dc_huff_tables, coefficients.ac_huff_tables
    return (
        bool(dc) and bool(ac)
        and all(_DC_SYMBOLS <= symbols(t) for t in dc)
        and all(_AC_SYMBOLS <= symbols(t) for t in ac)
    )
