"""From detections and the user's policy to the pixel regions to hide, in the image's *stored* frame.

A detector measures boxes on the picture it was given: the stored pixels, or the pixels turned by an
orientation (the EXIF Orientation tag, or XMP). trapblur edits pixels in the order the file stores them, so
that the original EXIF (orientation included) stays valid and the output displays exactly like the input.
The mapping from a box's frame to the stored frame lives here, and only here. Which frame (or frames, when
it cannot be known) a box is in is decided by :mod:`.frames`; with several candidates every candidate
place is hidden. Pure functions: no files, no pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence, Union

from .errors import ImageError
from .options import BlurOptions
from .results import Detection

NormBox = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max as fractions of width / height
MIN_SIGMA_PX = 2.0
SIGMA_DIVISOR = 8.0


@dataclass(frozen=True)
class PixelBox:
    """A half-open pixel rectangle ``[x0, x1) x [y0, y1)``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def empty(self) -> bool:
        return self.width <= 0 or self.height <= 0

    def grown(self, margin: int, width: int, height: int) -> PixelBox:
        """This box grown by ``margin`` pixels on every side, clipped to a ``width`` x ``height`` image."""
        return PixelBox(
            max(0, self.x0 - margin), max(0, self.y0 - margin),
            min(width, self.x1 + margin), min(height, self.y1 + margin),
        )

    def shifted(self, dx: int, dy: int) -> PixelBox:
        return PixelBox(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)


@dataclass(frozen=True)
class Region:
    """One area to hide: where, how strongly (Gaussian sigma in pixels) and in what shape."""

    box: PixelBox
    sigma: float
    shape: str = "rectangle"


def select_detections(detections: Iterable[Detection], options: BlurOptions) -> list[Detection]:
    """The detections the policy hides: those showing a chosen category with confidence >= its threshold.

    "Showing" is :meth:`Detection.conf_as`: the detection's category, or a classification of it (a box an
    animal detector found and a species classifier called "human" is a person). A confidence that is not
    a number (NaN) is selected: nobody can say the box is safe to leave.
    """
    return [d for d in detections if any(_reaches(d.conf_as(c), t) for c, t in options.thresholds.items())]


def _reaches(conf: float | None, threshold: float) -> bool:
    return conf is not None and not conf < threshold


Orientations = Union[int, Iterable[int]]


def regions_to_hide(
    detections: Sequence[Detection],
    options: BlurOptions,
    stored_width: int,
    stored_height: int,
    orientation: Orientations = 1,
) -> list[Region]:
    """Pixel regions, in the stored frame, for the detections the policy selects.

    ``orientation`` is the transform from the stored pixels to the picture the boxes were measured on, or
    several candidates (:class:`trapblur.frames.BoxFrames`): each box is then hidden at every candidate
    place (identical places once).

    Raises :class:`ImageError` when a selected detection's box is empty (zero size, or outside the
    frame): nobody knows where that person is, so no output could be trusted.
    """
    candidates = candidate_orientations(orientation)
    regions: list[Region] = []
    for detection in select_detections(detections, options):
        for candidate in candidates:
            check_box_size(detection, stored_width, stored_height, candidate)
        measured = padded_box(detection.bbox, options.padding, options.edge_snap)
        boxes = dict.fromkeys(to_pixels(upright_to_stored(measured, o), stored_width, stored_height)
                              for o in candidates)
        for box in boxes:
            if box.empty:
                raise ImageError(f"a selected {detection.category} detection has an empty box {list(detection.bbox)}")
            sigma = max(MIN_SIGMA_PX, options.strength * max(box.width, box.height) / SIGMA_DIVISOR)
            regions.append(Region(box=box, sigma=sigma, shape=options.shape))
    return regions


def candidate_orientations(orientation: Orientations) -> tuple[int, ...]:
    """``orientation`` as a non-empty tuple of distinct values (values outside 1-8 count as 1)."""
    values = (orientation,) if isinstance(orientation, int) else tuple(orientation)
    if not values:
        raise ValueError("at least one candidate orientation is needed")
    return tuple(dict.fromkeys(v if 1 <= v <= 8 else 1 for v in values))


def check_box_size(detection: Detection, stored_width: int, stored_height: int, orientation: int = 1) -> None:
    """Raise :class:`ImageError` unless the detection's own box (before padding) covers at least one pixel
    in each direction inside the frame.

    A box of zero or sub-pixel width or height, with a coordinate that is not a number, or lying wholly
    outside the frame does not say where the person is: padding it and rounding outwards would "blur" a
    1 px strip and report the image blurred. Such an image fails instead.
    """
    x, y, w, h = detection.bbox
    where = f"a selected {detection.category} detection's box {list(detection.bbox)}"
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ImageError(f"{where} has a coordinate that is not a number: nobody knows where to blur")
    visible = (_clip(x), _clip(y), _clip(x + w), _clip(y + h))
    x0, y0, x1, y1 = upright_to_stored(visible, orientation)
    width_px, height_px = (x1 - x0) * stored_width, (y1 - y0) * stored_height
    if width_px < 1.0 or height_px < 1.0:
        raise ImageError(
            f"{where} is an empty box: it covers {max(width_px, 0.0):.3g} x {max(height_px, 0.0):.3g} px of the "
            f"{stored_width} x {stored_height} image (zero, under a pixel, or outside the frame), which does "
            "not say where the person is, so the image is not written"
        )


def padded_box(bbox: Sequence[float], padding: float, edge_snap: float) -> NormBox:
    """MegaDetector's ``[x, y, w, h]`` grown by ``padding`` x its size on each side, snapped and clipped."""
    x, y, w, h = bbox
    x0, x1 = x - padding * w, x + w + padding * w
    y0, y1 = y - padding * h, y + h + padding * h
    x0 = 0.0 if x0 <= edge_snap else x0
    y0 = 0.0 if y0 <= edge_snap else y0
    x1 = 1.0 if x1 >= 1.0 - edge_snap else x1
    y1 = 1.0 if y1 >= 1.0 - edge_snap else y1
    return (_clip(x0), _clip(y0), _clip(x1), _clip(y1))


def upright_to_stored(box: NormBox, orientation: int) -> NormBox:
    """Map a normalised box from the upright frame to the stored frame for an EXIF Orientation value.

    Orientation says how the stored pixels must be transformed for display (1 = as stored, 6 = rotate
    90 degrees clockwise, ...). Values outside 1-8 are treated as 1, as image viewers do.
    """
    x0, y0, x1, y1 = box
    if orientation == 2:  # mirrored left-right
        return (1 - x1, y0, 1 - x0, y1)
    if orientation == 3:  # rotated 180
        return (1 - x1, 1 - y1, 1 - x0, 1 - y0)
    if orientation == 4:  # mirrored top-bottom
        return (x0, 1 - y1, x1, 1 - y0)
    if orientation == 5:  # transposed
        return (y0, x0, y1, x1)
    if orientation == 6:  # displayed rotated 90 clockwise: stored x = upright y, stored y = 1 - upright x
        return (y0, 1 - x1, y1, 1 - x0)
    if orientation == 7:  # transverse
        return (1 - y1, 1 - x1, 1 - y0, 1 - x0)
    if orientation == 8:  # displayed rotated 90 counter-clockwise
        return (1 - y1, x0, 1 - y0, x1)
    return box


def to_pixels(box: NormBox, width: int, height: int) -> PixelBox:
    """Round a normalised box outwards to whole pixels (never inwards: that would leave an edge unhidden)."""
    x0, y0, x1, y1 = box
    # round(..., 6) first so that float noise (1 - 50/60 = 0.16666...) does not add a pixel
    return PixelBox(
        max(0, math.floor(round(x0 * width, 6))), max(0, math.floor(round(y0 * height, 6))),
        min(width, math.ceil(round(x1 * width, 6))), min(height, math.ceil(round(y1 * height, 6))),
    )


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))
