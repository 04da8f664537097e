"""Blur a JPEG by rewriting only the 8x8 blocks a region touches: the rest of the photograph stays lossless.

Every other tool decodes and re-encodes the whole photograph to blur one hiker, so the scientific record
(everything that is not the hiker) loses quality each time. A JPEG is a grid of DCT blocks; this module
reads the quantised DCT coefficients, replaces those of the blocks under each blurred region with
coefficients computed for the blurred picture (with the file's own quantisation tables), and writes the
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
* With ``only_if_faster=True`` (what the batch and :func:`~trapblur.blur_image` ask for), an image on
  which block-wise editing would cost more than re-encoding is refused with :class:`LosslessNotFaster`
  and the caller re-encodes it; the report's ``encoding`` column says so (see :data:`COSTS`).

How the new blocks are computed
-------------------------------
* **Strong Gaussian blurs of rectangles** (sigma >= :data:`DC_CONTEXT_MIN_SIGMA`, i.e. any box whose
  longest side is 160 px or more at the default strength: nearly every person): from the block means
  alone, in the DCT domain (:mod:`.dct_blur`). No pixel is decoded, blurred at full size or coded again:
  the cost is libjpeg-turbo's transform plus a small fraction, whatever the box's size.
* **Filling rectangles**: constant blocks, from nothing.
* **Everything else** (weak blurs of small boxes, ellipses, pixelation; :mod:`.jpeg_dct`): the window's
  pixels are computed from the coefficients (region + 3 sigma of context, on the MCU grid; for blurs
  from sigma 20 the context outside the re-encoded areas from DC terms only, see
  :data:`DC_CONTEXT_MIN_SIGMA`), hidden with the core's :func:`.blur.hide_regions`, and coded again.

Layers (no import cycles): :mod:`.jpeg_blocks` (geometry, the plan) <- :mod:`.jpeg_dct`, :mod:`.dct_blur`
(numpy) and the back ends :mod:`.jpeg_turbo` and :mod:`.jpeg_pyjpegio` (they carry a plan out) <- this
module (chooses the plan and the back end).

Back ends
---------
* :mod:`.jpeg_turbo` (preferred, ``backend="auto"``): the system's libjpeg-turbo through ``ctypes``,
  ``tjTransform`` with a custom filter. It costs one entropy decode + encode, the floor of any block-wise
  edit, but needs ``libturbojpeg`` installed (Linux packages; not from the Python registry). Its 2.x API
  drops restart markers: with ``"auto"`` it sets the restart interval in the compressor where it can
  recognise the library's structure (:func:`.jpeg_turbo._set_restart_interval`); elsewhere such files go
  to pyjpegio.
* :mod:`.jpeg_pyjpegio`: wheels that bundle libjpeg-turbo for Linux, Windows and macOS, so R users get it
  from the registry with no compiler or system library; slower (it copies every coefficient).

If neither back end is available, or the file is arithmetic-coded, 12-bit, CMYK/YCCK, RGB-coded, lossless or
hierarchical, or has sampling factors other than 4:4:4, 4:2:2, 4:4:0 and 4:2:0 style (chroma at 1x1,
luma at 1 or 2 each way), :class:`LosslessUnsupported` is raised and the caller re-encodes instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import dct_blur, jpeg, jpeg_pyjpegio, jpeg_turbo
from .blur import hide_regions
from .jpeg_blocks import (
    BlockLayout,
    BlockPlan,
    LosslessNotFaster,
    LosslessUnsupported,
    NewBlocks,
    component_blocks,
    edit_for,
    edit_window,
    mcu_aligned,
    read_block_layout,
)
from .jpeg_dct import (
    decode_context,
    decode_window,
    eighth_scale,
    encode_area,
    quarter_scale,
    shift,
)
from .regions import PixelBox, Region

__all__ = [
    "BACKENDS", "COSTS", "DC_CONTEXT_MIN_SIGMA", "BlockLayout", "EditCost", "EditedJpeg", "LosslessNotFaster",
    "LosslessUnsupported", "blur_jpeg_blocks", "edit_jpeg_blocks", "mcu_aligned", "plan_edit", "read_block_layout",
    "recode_blocks",
]

BACKENDS = ("turbojpeg", "pyjpegio")
"""Coefficient back ends, fastest first (see :mod:`.jpeg_turbo` and :mod:`.jpeg_pyjpegio`)."""

DC_CONTEXT_MIN_SIGMA = 20.0
"""From this sigma on, a Gaussian blur reads the photograph through its block means only.

The core's Gaussian (:func:`.blur.gaussian_blur`) starts by averaging the pixels over cells of
``sigma / 2.5`` pixels, 8 or more from sigma 20: the detail inside an 8 x 8 block is averaged away
anyway. So for such blurs of rectangles the whole blur is computed from the DC coefficients
(:mod:`.dct_blur`), and for ellipses the pixels *around* the re-encoded areas (the 3-sigma context, often
several times larger than the region itself) are rebuilt from the DC coefficients alone (block means,
interpolated linearly) instead of a full inverse DCT, the areas themselves and one MCU around them being
decoded exactly. Either way the blurred result differs from the exact-decode one by well under one grey
level (tests/test_jpeg_lossless.py checks >= 45 dB PSNR, the bound the core's own approximation is held to).
"""


@dataclass(frozen=True)
class EditedJpeg:
    """A block-wise edited JPEG and, where the back end saw every DC term (TurboJPEG), the edited
    picture at 1/8 scale (RGB or grey uint8, one pixel per luma block) to render previews from."""

    data: bytes
    eighth_scale: np.ndarray | None = None
    backend: str = ""
    quarter_scale: Callable[[], np.ndarray] | None = None  # the same at 1/4 scale, on demand (smaller photographs)


def blur_jpeg_blocks(data: bytes, regions: Sequence[Region], method: str, backend: str = "auto") -> bytes:
    """A JPEG of ``data`` with ``regions`` (stored pixel frame) hidden: :func:`edit_jpeg_blocks`'s bytes."""
    return edit_jpeg_blocks(data, regions, method, backend).data


def edit_jpeg_blocks(
    data: bytes, regions: Sequence[Region], method: str, backend: str = "auto", *, only_if_faster: bool = False,
    structure: jpeg.JpegLayout | None = None,
) -> EditedJpeg:
    """A JPEG of ``data`` with ``regions`` (stored pixel frame) hidden, every other block bit-identical.

    ``backend`` is ``"auto"`` (libjpeg-turbo's transform API where the system has ``libturbojpeg`` and
    the file has no restart markers, else pyjpegio), ``"turbojpeg"`` or ``"pyjpegio"``.
    With ``only_if_faster``, raises :class:`LosslessNotFaster` where the cost model (:data:`COSTS`) says
    re-encoding this image costs less than editing its blocks with the back end that would be used.
    Raises :class:`LosslessUnsupported` when the file cannot be edited block-wise (by the back end
    asked for, or by any with ``"auto"``), and :class:`~trapblur.errors.ImageError` when it is broken.
    ``structure`` is ``jpeg.parse_jpeg(data)`` where the caller has it already. Never returns a partly
    edited image.
    """
    if backend not in ("auto",) + BACKENDS:
        raise ValueError(f"backend must be 'auto' or one of {', '.join(BACKENDS)}, not {backend!r}")
    layout = read_block_layout(data, structure)
    edits = [edit_for(region, layout) for region in regions]
    edits = [(hide, area) for hide, area in edits if not area.empty]
    if not edits:
        return EditedJpeg(data)
    plan, cost = plan_edit(layout, edits, method)
    if backend in ("auto", "turbojpeg"):
        try:
            if only_if_faster and jpeg_turbo.available():
                _check_pays(cost, layout, "turbojpeg")
            output, dc, blocks = jpeg_turbo.edit_blocks(data, layout, plan, keep_restart_interval=backend == "auto")
            quarter = (lambda: quarter_scale(blocks, layout)) if blocks is not None else None
            return EditedJpeg(output, eighth_scale(dc, layout), "turbojpeg", quarter)
        except LosslessNotFaster:
            raise
        except LosslessUnsupported:
            if backend == "turbojpeg":
                raise
    if only_if_faster and jpeg_pyjpegio.available():
        _check_pays(cost, layout, "pyjpegio")
    return EditedJpeg(jpeg_pyjpegio.edit_blocks(data, layout, plan), None, "pyjpegio")


# ----------------------------------------------------------------------------------------------------------
# The plan: which blocks are read, which rewritten, and how


@dataclass(frozen=True)
class EditCost:
    """How much pixel work a plan does besides moving the coefficients (what :data:`COSTS` weighs)."""

    exact_decoded: int  # pixels decoded from full coefficients (inverse DCT, colour conversion)
    exact_encoded: int  # pixels coded again (colour conversion, forward DCT)
    from_means: int  # pixels of areas computed from block means (DCT-domain blur, fill)


def plan_edit(
    layout: BlockLayout, edits: Sequence[tuple[Region, PixelBox]], method: str
) -> tuple[BlockPlan, EditCost]:
    """How to hide the ``edits`` (:func:`.jpeg_blocks.edit_for`'s (region, area) pairs) in this file.

    Edits computed exactly (from pixels) come first, then those computed from block means, each kind in
    the given order: a strong blur overlapping a weak one then blurs what the weak one left, as the core
    does when it blurs regions in turn.
    """
    exact = [edit for edit in edits if not _from_means(edit[0], method)]
    means = [edit for edit in edits if _from_means(edit[0], method)]
    ordered = exact + means
    count = len(layout.sampling)
    reads: tuple[tuple[slice, slice] | None, ...] = (None,) * count
    decoded = 0
    if exact:
        window = _exact_reads(exact, layout, method)
        reads = tuple(component_blocks(layout, c, window) for c in range(count))
        decoded = _exact_decoded_pixels(exact, layout, method)
    areas = tuple(tuple(component_blocks(layout, c, area) for c in range(count)) for _, area in ordered)

    def recode(planes: Sequence[np.ndarray], dc: Sequence[np.ndarray]) -> NewBlocks:
        if exact:
            recode_blocks(planes, layout, exact, method, dc)
        if not means:
            return lambda component, row, edit: planes[component][row, areas[edit][component][1]]
        if method == "fill":
            return _filled_blocks(layout, areas)
        block_means = [dct_blur.block_means(d, layout, c) for c, d in enumerate(dc)]
        dct_blur.clip_to_gamut(block_means, layout, edit_window(means, layout, "gaussian"))
        for c in range(count):  # the exact edits' results are what the strong blurs read
            for _, area in exact:
                rows, columns = component_blocks(layout, c, area)
                block_means[c][rows, columns] = dct_blur.block_means(planes[c][rows, columns, 0, 0], layout, c)
        blurred = [
            [dct_blur.blur_means(block_means[c], layout, c, area, hide.sigma) for c in range(count)]
            for hide, area in means
        ]
        fast = dct_blur.BlurredBlocks(blurred)
        first = len(exact)

        def new_blocks(component: int, row: int, edit: int) -> np.ndarray:
            if edit < first:
                return planes[component][row, areas[edit][component][1]]
            return fast(component, row, edit - first)

        return new_blocks

    cost = EditCost(decoded, sum(area.width * area.height for _, area in exact),
                    sum(area.width * area.height for _, area in means))
    return BlockPlan(reads, areas, recode), cost


def _from_means(hide: Region, method: str) -> bool:
    """Whether this edit's new blocks are computed from block means alone (no pixel decoded)."""
    if hide.shape != "rectangle":
        return False
    return method == "fill" or (method == "gaussian" and hide.sigma >= DC_CONTEXT_MIN_SIGMA)


def _exact_dc_context(edits: Sequence[tuple[Region, PixelBox]], method: str) -> bool:
    return method == "gaussian" and min(hide.sigma for hide, _ in edits) >= DC_CONTEXT_MIN_SIGMA


def _exactly_decoded(area: PixelBox, layout: BlockLayout) -> PixelBox:
    """An area and one MCU around it (chroma interpolation reads it): decoded exactly under a DC context."""
    return mcu_aligned(area.grown(max(layout.mcu_width, layout.mcu_height), layout.width, layout.height), layout)


def _exact_reads(edits: Sequence[tuple[Region, PixelBox]], layout: BlockLayout, method: str) -> PixelBox:
    """The pixels whose blocks the exact path reads in full (the rest of its window comes from DC terms)."""
    if not _exact_dc_context(edits, method):
        return edit_window(edits, layout, method)
    boxes = [_exactly_decoded(area, layout) for _, area in edits]
    return PixelBox(min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes),
                    max(b.y1 for b in boxes))


def _exact_decoded_pixels(edits: Sequence[tuple[Region, PixelBox]], layout: BlockLayout, method: str) -> int:
    if not _exact_dc_context(edits, method):
        window = edit_window(edits, layout, method)
        return window.width * window.height
    return sum(box.width * box.height for box in (_exactly_decoded(area, layout) for _, area in edits))


def recode_blocks(
    planes: Sequence[np.ndarray], layout: BlockLayout, edits: Sequence[tuple[Region, PixelBox]], method: str,
    dc: Sequence[np.ndarray] | None = None,
) -> None:
    """Hide the regions in the coefficient ``planes`` (modified in place) from decoded pixels: the exact path.

    Each plane is one component's quantised coefficients as a (block rows, block columns, 8, 8) array (or
    view), each block in natural order. Only the blocks of :func:`_exact_reads` are read (with the DC
    terms ``dc``, (block rows, block columns) per component, for the rest of
    :func:`.jpeg_blocks.edit_window`; taken from ``planes`` when not given) and only those in the edits'
    areas are written, so a back end may fill in just those.
    """
    window = edit_window(edits, layout, method)
    if _exact_dc_context(edits, method):
        pixels = decode_context(planes if dc is None else dc, layout, window)
        for _, area in edits:  # exact pixels where they are re-encoded, and one MCU around (chroma)
            exact = _exactly_decoded(area, layout)
            local = shift(exact, window)
            pixels[local.y0 : local.y1, local.x0 : local.x1] = decode_window(planes, layout, exact)
    else:
        pixels = decode_window(planes, layout, window)
    hide_regions(pixels, [Region(shift(h.box, window), h.sigma, h.shape) for h, _ in edits], method)
    for _, area in edits:
        encode_area(planes, layout, pixels, window, area)


def _filled_blocks(layout: BlockLayout, areas: Sequence[Sequence[tuple[slice, slice]]]) -> NewBlocks:
    """Black blocks: luma sample 0 (level-shifted -128) and neutral chroma, as the core's fill encodes."""
    dc = [round(-1024 / float(layout.qtables[0][0, 0]))] + [0] * (len(layout.sampling) - 1)

    def new_blocks(component: int, row: int, edit: int) -> np.ndarray:
        columns = areas[edit][component][1]
        blocks = np.zeros((columns.stop - columns.start, 8, 8), np.int16)
        blocks[:, 0, 0] = dc[component]
        return blocks

    return new_blocks


# ----------------------------------------------------------------------------------------------------------
# When block-wise editing pays


@dataclass(frozen=True)
class Costs:
    """What each part of an edit costs, in units of *re-encoding one pixel* (decode + blur + encode).

    Measured on real camera-trap photographs by ``benchmarks/bench_issue9.py``, which prints the figures
    these come from. Moving the coefficients costs the back end's per-pixel figure over the whole image
    (it entropy-decodes and -encodes every block); the exact path adds a per-pixel cost for what it
    decodes and codes again in numpy; computing from block means is nearly free.
    """

    turbojpeg: float = 0.6  # tjTransform (entropy decode + encode): measured 0.3-0.55 of re-encoding
    pyjpegio: float = 0.9  # pyjpegio's read + write: measured 0.95-1.05 of re-encoding, 3 to 12 MP
    exact_decoded: float = 1.5  # numpy IDCT + colour conversion + upsampling: measured 1.4-1.8
    exact_encoded: float = 1.5  # colour conversion + downsampling + numpy FDCT: measured 1.2-1.7
    from_means: float = 0.03
    margin: float = 1.0  # block-wise editing is chosen while its estimate is at most margin x re-encoding,
    min_saving: float = 100_000  # ... or re-encoding would save less than this (~1 ms): not worth a lossy copy

    def lossless(self, cost: EditCost, pixels: int, backend: str) -> float:
        return (getattr(self, backend) * pixels + self.exact_decoded * cost.exact_decoded
                + self.exact_encoded * cost.exact_encoded + self.from_means * cost.from_means)


COSTS = Costs()
"""The cost model that decides, with ``only_if_faster``, whether an image is edited block-wise.

Re-encoding costs ~1 unit per pixel. Block-wise editing costs the back end's figure per pixel plus its
pixel work (:class:`EditCost`). With TurboJPEG and the default settings (rectangles, Gaussian), every
person box of 160 px or more is computed from block means, so block-wise editing wins whatever the box
size; the model turns an image over to re-encoding where much of it needs the exact path (large
ellipses, pixelation), or where only pyjpegio is there and the exact path adds to its cost (a machine
without libturbojpeg, or a libjpeg-turbo build whose structure :mod:`.jpeg_turbo` cannot recognise, for
files with restart markers).

Re-encoding is chosen only where it saves more than :attr:`Costs.min_saving` (~1 ms): on small
photographs block-wise editing may cost a little more (it has ~1 ms of fixed Python cost per image, not
modelled: filter calls per block row, planning, checking the output; under ~0.4 MP it can cost up to
~1 ms more than re-encoding), and such a millisecond is not worth a lossy copy.
"""


def _check_pays(cost: EditCost, layout: BlockLayout, backend: str) -> None:
    pixels = layout.width * layout.height
    estimate = COSTS.lossless(cost, pixels, backend)
    if estimate > COSTS.margin * pixels + COSTS.min_saving:
        raise LosslessNotFaster(
            f"with {backend}, editing its blocks would cost an estimated {estimate / pixels:.1f}x re-encoding"
        )

