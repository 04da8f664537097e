"""One image in memory: the building block for callers that manage their own files."""

from __future__ import annotations

from typing import Sequence

from .blur import hide_regions
from .codecs import decode_pixels, encode_like, inspect_image
from .options import BlurOptions
from .regions import regions_to_hide
from .results import Detection


def blur_image(data: bytes, detections: Sequence[Detection], options: BlurOptions | None = None) -> bytes:
    """The image file ``data`` (JPEG, PNG or TIFF bytes) with the detections ``options`` selects hidden.

    Boxes are MegaDetector boxes (upright frame). The result keeps the source's format, encoding settings
    and metadata, with embedded previews re-rendered. Raises :class:`~trapblur.ImageError` when the image
    cannot be read or edited.
    """
    options = options or BlurOptions()
    source = inspect_image(data)
    pixels = decode_pixels(source)
    regions = regions_to_hide(detections, options, source.width, source.height, source.orientation)
    hide_regions(pixels.array, regions, options.method)
    return encode_like(source, pixels).data
