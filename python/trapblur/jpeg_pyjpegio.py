"""The portable back end of the block-wise JPEG path: ``pyjpegio`` reads and writes every coefficient.

:mod:`.jpeg_lossless` says what the block-wise path promises; this module only moves the coefficients.
``pyjpegio`` (import name ``jpegio``, Apache-2.0) has wheels that bundle libjpeg-turbo for Linux, Windows
and macOS, so R users get it from the registry with no compiler or system library. Unlike ``jpeglib``
(whose writer neither keeps the restart interval nor writes progressive files, and decodes the source
twice per write), it keeps the restart interval, the progressive mode and the input's Huffman tables, and
turns libjpeg errors into exceptions instead of exiting the process. It is slower than :mod:`.jpeg_turbo`:
it copies every coefficient into numpy and back, which on a 12 MP photograph costs more than decoding and
re-encoding it (the cost model in :mod:`.jpeg_lossless` knows).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from . import jpeg
from .jpeg_blocks import BlockLayout, BlockPlan, LosslessUnsupported, blocks_of
from .jpeg_dct import as_blocks

_ADOBE = b"Adobe"
_JFIF = b"JFIF\x00"


def available() -> bool:
    """Whether pyjpegio can be imported here."""
    try:
        _import_jpegio()
    except LosslessUnsupported:
        return False
    return True


def edit_blocks(data: bytes, layout: BlockLayout, plan: BlockPlan) -> bytes:
    """``data`` with ``plan`` carried out on its coefficients; every other block bit-identical."""
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
        planes = [as_blocks(np.asarray(array)) for array in coefficients.coef_arrays]
        new_blocks = plan.recode(planes, [plane[:, :, 0, 0] for plane in planes])
        for component, plane in enumerate(planes):
            for row, items in sorted(plan.writes(component).items()):
                for edit, span in items:
                    plane[row, span] = new_blocks(component, row, edit)
        coefficients.markers = [m for m in coefficients.markers if _keep_marker(m)]
        return _write(coefficients, os.path.join(folder, "out.jpg"))


def _import_jpegio() -> Any:
    try:
        import jpegio
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
