"""One image in memory: the building block for callers that manage their own files."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from .blur import hide_regions
from .codecs import EncodedImage, SourceImage, decode_pixels, encode_jpeg_blocks, encode_like, inspect_image
from .errors import OptionsError
from .frames import box_frames, identify_box_source
from .jpeg_lossless import LosslessNotFaster, LosslessUnsupported
from .options import BlurOptions
from .regions import Region, regions_to_hide
from .results import Detection

JPEG_MODES = ("lossless", "reencode")


def check_jpeg_mode(jpeg_mode: str) -> None:
    if jpeg_mode not in JPEG_MODES:
        raise OptionsError(f"jpeg_mode must be one of {', '.join(JPEG_MODES)}, not {jpeg_mode!r}",
                           argument="jpeg_mode")


def blur_image(
    data: bytes,
    detections: Sequence[Detection],
    options: BlurOptions | None = None,
    jpeg_mode: str = "lossless",
    results_info: Mapping[str, Any] | None = None,
) -> bytes:
    """The image file ``data`` (JPEG, PNG or TIFF bytes) with the detections ``options`` selects hidden.

    Boxes are MegaDetector-style boxes. ``results_info`` is the ``info`` block of the results file they
    come from: it says which tool made them, and so whether they were measured on the stored or the
    EXIF-turned picture (:mod:`trapblur.frames`). Without it the tool is unknown, and an image whose
    orientation is not 1 is blurred at every candidate place. The result keeps the source's format,
    encoding settings and metadata, with embedded previews re-rendered. ``jpeg_mode`` is as for
    :func:`~trapblur.blur_dataset`. Raises :class:`~trapblur.ImageError` when the image cannot be read or
    edited.
    """
    check_jpeg_mode(jpeg_mode)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise OptionsError(f"data must be the image file's bytes, not {type(data).__name__}", argument="data")
    if isinstance(detections, (str, bytes)) or not isinstance(detections, Sequence) \
            or not all(isinstance(d, Detection) for d in detections):
        raise OptionsError("detections must be a list of trapblur.Detection (for example an ImageEntry's detections)",
                           argument="detections")
    if options is not None and not isinstance(options, BlurOptions):
        raise OptionsError(f"options must be a trapblur.BlurOptions or None, not {type(options).__name__}",
                           argument="options")
    options = options or BlurOptions()
    source = inspect_image(bytes(data))
    frames = box_frames(identify_box_source(results_info), source.evidence, source.format, source.colour_components)
    regions = regions_to_hide(detections, options, source.width, source.height, frames.orientations)
    return hide_and_encode(source, regions, options.method, jpeg_mode)[0].data


def hide_and_encode(
    source: SourceImage, regions: Sequence[Region], method: str, jpeg_mode: str
) -> tuple[EncodedImage, str]:
    """The output file and how it was made: "lossless" (only the touched JPEG blocks) or "reencode".

    ``jpeg_mode`` is checked by the callers (:func:`blur_image`, :class:`~trapblur.pipeline.RunSettings`).
    In "lossless" mode, a JPEG that cannot be edited block-wise, or on which that would cost more than
    re-encoding (:data:`~trapblur.jpeg_lossless.COSTS`), is re-encoded, and the note says why.
    """
    fallback: tuple[str, ...] = ()
    if source.format == "JPEG" and jpeg_mode == "lossless":
        try:
            return encode_jpeg_blocks(source, regions, method, only_if_faster=True), "lossless"
        except LosslessNotFaster as exc:
            fallback = (f"re-encoded: faster than editing the blocks of this image ({exc})",)
        except LosslessUnsupported as exc:
            fallback = (f"re-encoded: the JPEG cannot be edited block-wise ({exc})",)
    pixels = decode_pixels(source)
    hide_regions(pixels.array, regions, method)
    encoded = encode_like(source, pixels)
    return dataclasses.replace(encoded, notes=fallback + encoded.notes), "reencode"
