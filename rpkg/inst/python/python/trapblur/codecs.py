"""Images in and out: read the header, decode to pixels in *stored* order, encode edited pixels like the source.

Pixels are kept in the order the file stores them (never EXIF-rotated), so the original EXIF, orientation
tag included, stays true for the edited pixels and the output displays exactly like the input. The file's
orientation evidence (EXIF, XMP, ...) is read by :mod:`.orientation`, not by the decoders, and decoders that
apply orientation on their own (Pillow 13 and OpenCV 5 both turn TIFFs upright, Pillow even by XMP alone) are
given a decode-only copy in which every orientation statement reads 1 (:func:`.orientation.neutralised`).

* JPEG: decoded with OpenCV (libjpeg-turbo, releases the GIL, ``IMREAD_IGNORE_ORIENTATION``) and encoded
  with Pillow using the source's own quantisation tables, chroma subsampling, progressive mode and restart
  interval, so the rest of the photograph shows no visible generation loss. Metadata: see :mod:`.jpeg`.
  CMYK JPEGs go through Pillow both ways. RGB-coded JPEGs (Adobe transform 0, or "R", "G", "B" component
  ids) are re-encoded as RGB again. 12-bit, lossless and hierarchical JPEGs are refused.
* PNG: OpenCV both ways (8 or 16 bits, grey, colour, alpha); metadata chunks carried (see :mod:`.png`).
* TIFF: Pillow for the pixels, first page only, decoded from the neutralised copy, so the pixels and the
  header's size are the stored ones whatever the Orientation tag; the metadata (descriptive tags, EXIF,
  GPS, IPTC, XMP, ICC) is written by :mod:`.tiff`.

Every output's metadata is cleaned of embedded previews and then audited (:mod:`.previews`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Sequence

import cv2
import numpy as np
from PIL import Image, JpegImagePlugin

from . import jpeg, jpeg_metadata, png, previews, tiff
from .errors import ImageError
from .jpeg_lossless import LosslessUnsupported, edit_jpeg_blocks
from .orientation import OrientationEvidence, neutralised, read_evidence
from .regions import Region

MAX_PIXELS = 150_000_000  # larger images are refused as possible decompression bombs
ORIENTATION_TAG = 0x0112
_DECODE_FLAGS = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
_ADOBE = b"Adobe"


@dataclass
class SourceImage:
    """An image file's bytes and what its header says. Pixels are decoded separately, on demand."""

    data: bytes
    format: str  # "JPEG", "PNG" or "TIFF"
    width: int  # stored frame
    height: int
    orientation: int  # the EXIF orientation viewers apply (1-8); see ``evidence`` for everything the file says
    jpeg_layout: jpeg.JpegLayout | None = None
    jpeg_settings: dict[str, Any] = field(default_factory=dict)
    evidence: OrientationEvidence = field(default_factory=OrientationEvidence)
    rgb_coded: bool = False  # a 3-component JPEG storing R, G, B (no YCbCr conversion), as libjpeg decides

    @property
    def colour_components(self) -> int | None:
        """A JPEG's number of colour components (1 grey, 3 colour, 4 CMYK); None for other formats."""
        return len(self.jpeg_layout.components) if self.jpeg_layout is not None else None


@dataclass
class Pixels:
    """Decoded pixels in stored order and how to read their channels ("BGR", "BGRA", "L", "RGB", ...)."""

    array: np.ndarray
    channels: str


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    notes: tuple[str, ...] = ()


def sniff_format(head: bytes) -> str | None:
    """"JPEG", "PNG" or "TIFF" from a file's first bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(png.SIGNATURE):
        return "PNG"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


def unseen_pictures(stream: BinaryIO, kind: str | None) -> str | None:
    """Why a file holds pictures a detector did not look at (detectors read the first picture only), or None.

    An animated PNG's further frames and a TIFF's further pages (not reduced-resolution thumbnails) may show
    a person that no detection says anything about: such a file is never copied as "nothing to hide".
    """
    if kind == "PNG" and png.is_animated(stream):
        return "an animated PNG: the detector did not look at its other frames (only at its first picture)"
    if kind == "TIFF":
        pages = tiff.further_pages(stream)
        if pages:
            return (f"a TIFF with {pages} more page{'s' if pages > 1 else ''} after the first: the detector did "
                    f"not look at {'them' if pages > 1 else 'it'} (only at the first page)")
    return None


def jpeg_picture_end(data: bytes) -> int:
    """Where a JPEG's own picture ends: after its end-of-image marker and any zero padding after it.

    Bytes beyond it are something a camera or phone appended (multi-picture previews, a motion photo's
    video, a gain map): pictures no detector looked at. Raises :class:`ImageError` for a broken JPEG.
    """
    end = jpeg.parse_jpeg(data).end
    return len(data) if not data[end:].strip(b"\x00") else end


def inspect_image(data: bytes, max_pixels: int = MAX_PIXELS) -> SourceImage:
    """Read the header and check the file is complete; raise :class:`ImageError` saying what is wrong."""
    if not data:
        raise ImageError("empty file (0 bytes)")
    kind = sniff_format(data[:16])
    if kind is None:
        raise ImageError("not a JPEG, PNG or TIFF image (unrecognised file signature)")
    layout = None
    rgb_coded = False
    if kind == "JPEG":
        layout = jpeg.parse_jpeg(data)
        _check_supported_jpeg(data, layout)
        rgb_coded = _is_rgb_coded(data, layout)
    elif kind == "PNG":
        png.check_complete(data)
    evidence = read_evidence(data, kind, layout.segments if layout else None)
    try:
        # TIFF: the neutralised copy, because Pillow 13 reports a TIFF's size already turned upright;
        # PNG: a copy without chunks over the decoders' limits (png.for_decoders)
        if kind == "TIFF":
            header_stream = neutralised(data, evidence)
        else:
            header_stream = io.BytesIO(png.for_decoders(data) if kind == "PNG" else data)
        with Image.open(header_stream) as header:
            width, height = header.size
            if width * height > max_pixels:
                raise ImageError(f"image too large ({width} x {height} pixels; the limit is {max_pixels:,})")
            settings = _jpeg_settings(header, layout) if layout else {}
            if rgb_coded:
                settings["keep_rgb"] = True  # encode R, G, B as they were, not as YCbCr
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large: {exc}") from None
    except Exception as exc:  # Pillow raises many types for broken headers
        raise ImageError(f"cannot read the image header ({exc})") from None
    return SourceImage(data, kind, width, height, evidence.display, layout, settings, evidence, rgb_coded)


def decode_pixels(source: SourceImage) -> Pixels:
    """Decode every pixel, in stored order."""
    if source.format == "TIFF" or (source.format == "JPEG" and len(source.jpeg_layout.components) == 4):
        return _decode_with_pillow(source)
    data = png.for_decoders(source.data) if source.format == "PNG" else source.data
    array = cv2.imdecode(np.frombuffer(data, np.uint8), _DECODE_FLAGS)
    if array is None:
        raise ImageError(f"cannot decode the {source.format} data (corrupt image)")
    if array.shape[:2] != (source.height, source.width):
        raise ImageError(
            f"decoded size {array.shape[1]} x {array.shape[0]} differs from the header's "
            f"{source.width} x {source.height}"
        )
    channels = {2: "L"}.get(array.ndim) or {1: "L", 3: "BGR", 4: "BGRA"}[array.shape[2]]
    return Pixels(array, channels)


def encode_like(source: SourceImage, pixels: Pixels) -> EncodedImage:
    """Encode edited ``pixels`` in the source's format, settings and metadata (previews re-rendered).

    Raises :class:`~trapblur.errors.PreviewError` when an image embedded in the metadata could not be
    re-rendered or removed (the audit of the finished file found it).
    """
    renderer = _preview_renderer(lambda width, height: pixels)
    if source.format == "JPEG":
        return _with_clean_metadata(source, _encode_jpeg(source, pixels), renderer)
    if source.format == "PNG":
        ok, buffer = cv2.imencode(".png", pixels.array)
        if not ok:
            raise ImageError("the PNG encoder failed")
        data, notes = png.carry_metadata(source.data, buffer.tobytes(), renderer)
        png.audit(data, renderer.rendered)
        return EncodedImage(data, notes)
    return _encode_tiff(source, pixels, renderer)


def encode_jpeg_blocks(
    source: SourceImage, regions: Sequence[Region], method: str, backend: str = "auto", *, only_if_faster: bool = False
) -> EncodedImage:
    """Hide ``regions`` of a JPEG by rewriting only the blocks they touch (see :mod:`.jpeg_lossless`).

    ``backend`` picks the coefficient library (:func:`~trapblur.jpeg_lossless.blur_jpeg_blocks`); the
    default takes the fastest one available.
    Raises :class:`~trapblur.jpeg_lossless.LosslessUnsupported` when the file cannot be edited block-wise:
    the caller then decodes, hides and re-encodes. Metadata is handled exactly as by :func:`encode_like`;
    its previews are rendered from a reduced-size decode of the *edited* file. ``only_if_faster`` raises
    :class:`~trapblur.jpeg_lossless.LosslessNotFaster` where re-encoding would cost less.
    """
    if source.rgb_coded:
        raise LosslessUnsupported("RGB-coded JPEG (no YCbCr conversion)")
    result = edit_jpeg_blocks(source.data, regions, method, backend, only_if_faster=only_if_faster,
                              structure=source.jpeg_layout)
    edited = result.data
    grey = len(source.jpeg_layout.components) == 1
    decoded: dict[int, Pixels] = {}
    if result.eighth_scale is not None:  # the 1/8-scale picture the back end already has: no decode
        decoded[8] = Pixels(result.eighth_scale, "L" if grey else "RGB")

    def pixels_for(width: int, height: int) -> Pixels:
        factor = _reduction(source.width, source.height, width, height)
        if factor == 4 and factor not in decoded and result.quarter_scale is not None:  # smaller photographs
            decoded[4] = Pixels(result.quarter_scale(), "L" if grey else "RGB")
        if factor not in decoded:
            decoded[factor] = _decode_reduced(edited, factor, grey)
        return decoded[factor]

    return _with_clean_metadata(source, edited, _preview_renderer(pixels_for))


def _with_clean_metadata(source: SourceImage, encoded: bytes, renderer: previews.PreviewRenderer) -> EncodedImage:
    """The new JPEG under the original's metadata, previews re-rendered or removed, audited."""
    sanitised = jpeg_metadata.sanitise_metadata(source.data, source.jpeg_layout, renderer)
    data = jpeg.replace_metadata(encoded, sanitised.segments)
    jpeg_metadata.audit(data, renderer.rendered)
    return EncodedImage(data, sanitised.notes)


def _preview_renderer(pixels_for: Callable[[int, int], Pixels]) -> previews.PreviewRenderer:
    """Previews drawn from the blurred picture (``pixels_for(width, height)`` gives pixels at least that big)."""
    return previews.PreviewRenderer(
        jpeg_at=lambda width, height, max_bytes: encode_preview(pixels_for(width, height), width, height, max_bytes),
        raw_at=lambda width, height, channels: raw_preview(pixels_for(width, height), width, height, channels),
    )


def encode_preview(pixels: Pixels, width: int, height: int, max_bytes: int) -> bytes:
    """A small JPEG of the (blurred) pixels at ``width`` x ``height`` that fits in ``max_bytes``, or b""."""
    image = _small_pillow(pixels, width, height)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    for quality in (85, 70, 50, 30, 15, 5):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        if buffer.tell() <= max_bytes:
            return buffer.getvalue()
    return b""


def raw_preview(pixels: Pixels, width: int, height: int, channels: int) -> bytes:
    """The (blurred) pixels at ``width`` x ``height`` as 8-bit RGB (``channels`` 3) or grey (1) samples."""
    return _small_pillow(pixels, width, height).convert("L" if channels == 1 else "RGB").tobytes()


def _small_pillow(pixels: Pixels, width: int, height: int) -> Image.Image:
    array = pixels.array
    if array.dtype != np.uint8:
        array = (array >> 8).astype(np.uint8) if array.dtype == np.uint16 else array.astype(np.uint8)
    small = cv2.resize(array, (max(1, width), max(1, height)), interpolation=cv2.INTER_AREA)
    return to_pillow(small, pixels.channels)


def as_displayed(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """The stored ``pixels`` turned as EXIF ``orientation`` (1-8) says viewers show them (as Pillow's
    ``exif_transpose``).

    The inverse of :func:`trapblur.regions.upright_to_stored`: a box measured on the result maps back onto
    the same stored pixels (``tests/test_orientation.py`` checks all eight values against both). Used where
    a picture is shown or given to a detector; trapblur's own outputs stay in stored order.
    """
    if orientation == 2:
        return cv2.flip(pixels, 1)
    if orientation == 3:
        return cv2.rotate(pixels, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(pixels, 0)
    if orientation == 5:
        return cv2.transpose(pixels)
    if orientation == 6:
        return cv2.rotate(pixels, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.transpose(pixels), -1)
    if orientation == 8:
        return cv2.rotate(pixels, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return pixels


def to_pillow(array: np.ndarray, channels: str) -> Image.Image:
    """A Pillow image viewing ``array`` without a colour conversion pass where Pillow can unpack it."""
    array = np.ascontiguousarray(array)
    height, width = array.shape[:2]
    if array.ndim == 2 or channels == "L":
        return Image.fromarray(array.reshape(height, width))
    if channels in ("BGR", "RGB"):
        return Image.frombuffer("RGB", (width, height), array, "raw", channels, 0, 1)
    if channels in ("BGRA", "RGBA"):
        return Image.frombuffer("RGBA", (width, height), array, "raw", channels, 0, 1)
    if channels == "CMYK":
        return Image.frombuffer("CMYK", (width, height), array, "raw", "CMYK", 0, 1)
    return Image.fromarray(array)


# ----------------------------------------------------------------------------------------------------------
# JPEG


def _check_supported_jpeg(data: bytes, layout: jpeg.JpegLayout) -> None:
    if layout.precision != 8:
        raise ImageError(f"unsupported JPEG: {layout.precision}-bit samples (only 8-bit is supported)")
    if layout.frame_marker in jpeg.LOSSLESS_OR_HIERARCHICAL_FRAMES:
        raise ImageError("unsupported JPEG: lossless or hierarchical coding")
    if len(layout.components) not in (1, 3, 4):
        raise ImageError(f"unsupported JPEG: {len(layout.components)} colour components")
    for segment in layout.metadata_segments:
        payload = data[segment.start + 4 : segment.end]
        if segment.marker == jpeg.APP0 + 14 and payload.startswith(_ADOBE) and len(payload) >= 12:
            transform = payload[11]
            if len(layout.components) == 4 and transform != 0:
                raise ImageError("unsupported JPEG: YCCK colour (Adobe transform 2)")


def _is_rgb_coded(data: bytes, layout: jpeg.JpegLayout) -> bool:
    """True when libjpeg reads this 3-component JPEG as RGB: a JFIF header means YCbCr; else an Adobe
    header's transform 0 means RGB; with neither, component ids "R", "G", "B" do (libjpeg's own rule, so the
    re-encoded file is read the way the original was)."""
    if len(layout.components) != 3:
        return False
    adobe = None
    for segment in layout.metadata_segments:
        payload = data[segment.start + 4 : segment.end]
        if segment.marker == jpeg.APP0 and payload.startswith(b"JFIF\x00"):
            return False
        if segment.marker == jpeg.APP0 + 14 and payload.startswith(_ADOBE) and len(payload) >= 12:
            adobe = payload[11]
    if adobe is not None:
        return adobe == 0
    return tuple(c.identifier for c in layout.components) == (82, 71, 66)


_REDUCED_COLOUR = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                   8: cv2.IMREAD_REDUCED_COLOR_8}
_REDUCED_GREY = {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
                 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}


def _reduction(width: int, height: int, target_width: int, target_height: int) -> int:
    """The largest DCT scaling factor (1, 2, 4 or 8) that still decodes at least the target size."""
    for factor in (8, 4, 2):
        if width // factor >= target_width and height // factor >= target_height:
            return factor
    return 1


def _decode_reduced(data: bytes, factor: int, grey: bool) -> Pixels:
    """A 1/``factor`` size decode (cheap: libjpeg scales in the DCT domain), in stored order."""
    flags = (_REDUCED_GREY if grey else _REDUCED_COLOUR)[factor] | cv2.IMREAD_IGNORE_ORIENTATION
    array = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if array is None:
        raise ImageError("cannot decode the block-wise edited JPEG to render its previews")
    return Pixels(array, "L" if grey else "BGR")


def _jpeg_settings(header: Image.Image, layout: jpeg.JpegLayout) -> dict[str, Any]:
    settings: dict[str, Any] = {"qtables": header.quantization, "optimize": False}
    if len(layout.components) == 3:
        sampling = JpegImagePlugin.get_sampling(header)
        settings["subsampling"] = sampling if sampling in (0, 1, 2) else 0
    if layout.progressive:
        settings["progressive"] = True
    if layout.restart_interval:
        settings["restart_marker_blocks"] = layout.restart_interval
    return settings


def _encode_jpeg(source: SourceImage, pixels: Pixels) -> bytes:
    buffer = io.BytesIO()
    try:
        to_pillow(pixels.array, pixels.channels).save(buffer, "JPEG", **source.jpeg_settings)
    except Exception as exc:
        raise ImageError(f"the JPEG encoder failed ({exc})") from None
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------------------
# Through Pillow: CMYK JPEG and TIFF

# Pillow modes trapblur edits, and how the decoded array's channels read (16-bit grey is still one channel).
_PILLOW_CHANNELS = {"RGB": "RGB", "RGBA": "RGBA", "L": "L", "CMYK": "CMYK", "I;16": "L"}


def _decodable(data: bytes, kind: str, evidence: OrientationEvidence) -> io.BytesIO:
    """What Pillow is given to decode: for TIFF and JPEG, a copy whose orientation statements read 1.

    (PNG and most JPEGs go through OpenCV with ``IMREAD_IGNORE_ORIENTATION``, which it honours for them.)
    """
    return neutralised(data, evidence) if kind in ("TIFF", "JPEG") else io.BytesIO(data)


def _decode_with_pillow(source: SourceImage) -> Pixels:
    try:
        with Image.open(_decodable(source.data, source.format, source.evidence)) as image:
            image.load()
            if image.mode not in _PILLOW_CHANNELS:
                raise ImageError(f"unsupported {source.format} pixel mode {image.mode}")
            array = np.array(image)
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"cannot decode the {source.format} data ({exc})") from None
    if array.shape[:2] != (source.height, source.width):
        # a decoder turned the picture on its own: the boxes would land elsewhere, so stop here
        raise ImageError(
            f"decoded size {array.shape[1]} x {array.shape[0]} differs from the stored "
            f"{source.width} x {source.height} (the decoder applied an orientation)"
        )
    return Pixels(array, _PILLOW_CHANNELS[image.mode])


def _encode_tiff(source: SourceImage, pixels: Pixels, renderer: previews.PreviewRenderer) -> EncodedImage:
    """Pillow encodes the pixels (with the original's compression); :mod:`.tiff` writes the metadata."""
    try:
        with Image.open(io.BytesIO(source.data)) as original:
            compression = original.info.get("compression", "raw")
        image = Image.fromarray(pixels.array) if pixels.channels != "CMYK" else to_pillow(pixels.array, "CMYK")
        buffer = io.BytesIO()
        image.save(buffer, "TIFF", compression=compression)
    except Exception as exc:
        raise ImageError(f"the TIFF encoder failed ({exc})") from None
    rebuilt = tiff.rebuild(source.data, buffer.getvalue(), renderer)
    tiff.audit(rebuilt.data, renderer.rendered)
    return EncodedImage(rebuilt.data, rebuilt.notes)
