"""What a JPEG's block grid looks like, and the plan a coefficient back end carries out.

The bottom layer of block-wise JPEG editing (:mod:`.jpeg_lossless` says what it promises): pure functions
and records, no codec. :func:`read_block_layout` reads the geometry from the headers (or refuses the file);
the geometry helpers map pixel rectangles to MCU-aligned areas and to block ranges per component; and a
:class:`BlockPlan` tells a back end (:mod:`.jpeg_turbo`, or pyjpegio in :mod:`.jpeg_lossless`) which blocks
to hand over, which to rewrite, and how to compute the new ones. Back ends import this module only, so
there is no import cycle between them and the module that chooses the plan.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from . import jpeg
from .regions import PixelBox, Region

MARKER_DQT = 0xDB
SUPPORTED_FRAMES = {0xC0: "baseline", 0xC1: "extended sequential", 0xC2: "progressive"}
_ADOBE = b"Adobe"
# Zigzag position -> natural (row-major) index, as in the JPEG standard's Figure A.6.
ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7,
    14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39,
    46, 53, 60, 61, 54, 47, 55, 62, 63,
])


class LosslessUnsupported(Exception):
    """This JPEG cannot be edited block-wise (message says why); the core re-encodes instead."""


class LosslessNotFaster(LosslessUnsupported):
    """Block-wise editing would cost more than re-encoding this image (see :mod:`.jpeg_lossless`'s cost model)."""


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


# ----------------------------------------------------------------------------------------------------------
# What the file is


def read_block_layout(data: bytes, structure: jpeg.JpegLayout | None = None) -> BlockLayout:
    """The geometry of ``data``, or :class:`LosslessUnsupported` saying why it cannot be edited block-wise.

    ``structure`` is ``jpeg.parse_jpeg(data)`` where the caller has it already.
    """
    structure = structure or jpeg.parse_jpeg(data)
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
            table[ZIGZAG] = values
            table = table.reshape(8, 8)
            if slot in tables and not np.array_equal(tables[slot], table):
                raise LosslessUnsupported("a quantisation table is redefined between scans")
            if not table.all():
                raise LosslessUnsupported("a quantisation table has a zero entry")
            tables[slot] = table
            position += 1 + count
    return tables


def blocks_of(layout: BlockLayout, component: int) -> tuple[int, int]:
    """(rows, columns) of 8x8 blocks that hold component ``component``'s samples."""
    h, v = layout.sampling[component]
    max_h, max_v = layout.mcu_width // 8, layout.mcu_height // 8
    return (
        math.ceil(math.ceil(layout.height * v / max_v) / 8),
        math.ceil(math.ceil(layout.width * h / max_h) / 8),
    )


def factors(layout: BlockLayout, component: int) -> tuple[int, int]:
    """Image pixels per component sample, across and down (2 for subsampled chroma, else 1)."""
    h, v = layout.sampling[component]
    return layout.mcu_width // 8 // h, layout.mcu_height // 8 // v


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
# What a back end is asked to do


class NewBlocks(Protocol):
    def __call__(self, component: int, row: int, edit: int) -> np.ndarray:
        """The new quantised coefficients, int16 (n, 8, 8), of block row ``row`` of edit ``edit``'s area."""


@dataclass(frozen=True)
class BlockPlan:
    """One image's block-wise edit, as a coefficient back end carries it out.

    * ``reads``: per component, the block rows and columns whose coefficients the computation needs in
      full (``None``: none). The DC term of *every* block is always handed over as well.
    * ``areas``: per edit, per component, the block rows and columns that are rewritten, in edit order
      (where areas overlap, the later edit's blocks are written last and win).
    * ``recode(planes, dc)``: called once, after the reads, with full-size (block rows, block columns, 8, 8)
      int16 planes in which the read blocks are filled and the DC planes (block rows, block columns) of
      every component; returns the function that gives the new blocks of each area's rows.
    """

    reads: tuple[tuple[slice, slice] | None, ...]
    areas: tuple[tuple[tuple[slice, slice], ...], ...]
    recode: Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], NewBlocks]

    def writes(self, component: int) -> dict[int, list[tuple[int, slice]]]:
        """Block row -> (edit, column span) pairs to rewrite in ``component``, in edit order."""
        rows: dict[int, list[tuple[int, slice]]] = {}
        for index, area in enumerate(self.areas):
            row_range, columns = area[component]
            for row in range(row_range.start, row_range.stop):
                rows.setdefault(row, []).append((index, columns))
        return rows
