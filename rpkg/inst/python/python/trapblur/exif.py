"""EXIF and TIFF structure: image file directories (IFDs), and the preview images they point to.

Why this module exists
----------------------
EXIF is a small TIFF file: a chain of IFDs (IFD0 describes the photograph, IFD1 its thumbnail), with
sub-IFDs for camera settings (Exif), position (GPS), interoperability and reduced images (SubIFDs). The
same structure sits in a JPEG's APP1 segment, a PNG's eXIf chunk or ImageMagick "Raw profile type exif"
text, a Photoshop EXIF resource, and is the TIFF file format itself. One parser serves them all.

:func:`sanitise_exif` follows every pointer to image data in every IFD — a JPEG thumbnail
(JPEGInterchangeFormat/Length), uncompressed or compressed strips (StripOffsets/ByteCounts), tiles — and
overwrites the bytes it points to *in place*, whatever they look like: a thumbnail without its end marker
or one stored as raw RGB pixels is found by its pointer, not by its signature. Replacements are
re-rendered from the blurred image where the format allows (JPEG padded to the old length, raw 8-bit
RGB or grey at the thumbnail's size), zeros otherwise. Nothing moves, so every other offset in the
EXIF (maker notes included) stays valid and the dates, GPS and camera settings stay byte for byte.
JPEG previews that no IFD points to (maker-note previews) are re-rendered by signature
(:func:`trapblur.previews.overwrite_embedded_images`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import xmp
from .jpeg import embedded_jpeg_extent
from .previews import PreviewRenderer, Span, overwrite_embedded_images, remove_text_images

# Bytes per value of each TIFF field type (BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED, SSHORT,
# SLONG, SRATIONAL, FLOAT, DOUBLE, IFD, LONG8, SLONG8, IFD8).
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
_INTEGER_FORMATS = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 13: "I", 16: "Q", 17: "q", 18: "Q"}

IMAGE_WIDTH, IMAGE_LENGTH, BITS_PER_SAMPLE, COMPRESSION, PHOTOMETRIC = 0x0100, 0x0101, 0x0102, 0x0103, 0x0106
STRIP_OFFSETS, SAMPLES_PER_PIXEL, STRIP_BYTE_COUNTS, PLANAR_CONFIGURATION = 0x0111, 0x0115, 0x0117, 0x011C
TILE_OFFSETS, TILE_BYTE_COUNTS = 0x0144, 0x0145
JPEG_OFFSET, JPEG_LENGTH = 0x0201, 0x0202
XMP_TAG = 0x02BC
USER_COMMENT = 0x9286
EXIF_IFD, GPS_IFD, INTEROP_IFD, SUB_IFDS = 0x8769, 0x8825, 0xA005, 0x014A
# Tags whose values are offsets of further IFDs, and what those IFDs are called in messages.
POINTER_TAGS = {EXIF_IFD: "ExifIFD", GPS_IFD: "GPS", INTEROP_IFD: "InteropIFD", SUB_IFDS: "SubIFD"}
_MAX_IFDS = 256
EXIF_HEADER = b"Exif\x00\x00"


@dataclass(frozen=True)
class Entry:
    """One IFD entry; ``value_offset`` is where its value bytes start in the TIFF data."""

    tag: int
    type: int
    count: int
    value_offset: int

    @property
    def size(self) -> int:
        return TYPE_SIZES.get(self.type, 1) * self.count


@dataclass(frozen=True)
class Ifd:
    name: str  # "IFD0", "IFD1", "ExifIFD", "GPS", "SubIFD", ...
    offset: int
    entries: tuple[Entry, ...]

    def get(self, tag: int) -> Entry | None:
        return next((e for e in self.entries if e.tag == tag), None)


@dataclass(frozen=True)
class TiffLayout:
    order: str  # "<" little-endian (II) or ">" big-endian (MM)
    first_ifd: int
    ifds: tuple[Ifd, ...]


def parse_tiff(data: bytes) -> TiffLayout:
    """Every IFD reachable from the header: the IFD0 chain and all sub-IFDs. Raises ValueError if not TIFF.

    Broken pointers (out of the data, loops) end the walk there instead of failing: what cannot be
    reached by this walk cannot be reached by a reader either.
    """
    if data[:4] == b"II*\x00":
        order = "<"
    elif data[:4] == b"MM\x00*":
        order = ">"
    else:
        raise ValueError("not a TIFF structure (no II/MM header)")
    (first,) = struct.unpack_from(order + "I", data, 4)
    ifds: list[Ifd] = []
    seen: set[int] = set()
    queue: list[tuple[str, int]] = [("IFD0", first)]
    while queue and len(ifds) < _MAX_IFDS:
        name, offset = queue.pop(0)
        if offset in seen or offset < 8 or offset + 2 > len(data):
            continue
        seen.add(offset)
        ifd, following = _read_ifd(data, order, name, offset)
        ifds.append(ifd)
        for entry in ifd.entries:
            if entry.tag in POINTER_TAGS and entry.type in (4, 13):
                sub = POINTER_TAGS[entry.tag]
                queue.extend((sub, value) for value in read_integers(data, order, entry))
        if following:
            queue.append((_next_name(name), following))
    return TiffLayout(order, first, tuple(ifds))


def _next_name(name: str) -> str:
    if name.startswith("IFD") and name[3:].isdigit():
        return f"IFD{int(name[3:]) + 1}"
    return name


def _read_ifd(data: bytes, order: str, name: str, offset: int) -> tuple[Ifd, int]:
    (count,) = struct.unpack_from(order + "H", data, offset)
    count = min(count, (len(data) - offset - 2) // 12)
    entries = []
    for index in range(count):
        position = offset + 2 + 12 * index
        tag, kind, number = struct.unpack_from(order + "HHI", data, position)
        size = TYPE_SIZES.get(kind, 1) * number
        if size <= 4:
            value_offset = position + 8
        else:
            (value_offset,) = struct.unpack_from(order + "I", data, position + 8)
        entries.append(Entry(tag, kind, number, value_offset))
    end = offset + 2 + 12 * count
    following = struct.unpack_from(order + "I", data, end)[0] if end + 4 <= len(data) else 0
    return Ifd(name, offset, tuple(entries)), following


def read_integers(data: bytes, order: str, entry: Entry | None) -> tuple[int, ...]:
    """An integer entry's values, or () when it is missing, not an integer type, or out of the data."""
    if entry is None or entry.type not in _INTEGER_FORMATS:
        return ()
    if entry.value_offset + entry.size > len(data) or entry.count > 1 << 20:
        return ()
    return struct.unpack_from(f"{order}{entry.count}{_INTEGER_FORMATS[entry.type]}", data, entry.value_offset)


def value_bytes(data: bytes, entry: Entry) -> bytes:
    return data[entry.value_offset : entry.value_offset + entry.size]


def _first(data: bytes, order: str, ifd: Ifd, tag: int, default: int) -> int:
    values = read_integers(data, order, ifd.get(tag))
    return values[0] if values else default


@dataclass(frozen=True)
class ImageData:
    """Image data an IFD points to: a JPEG thumbnail, strips or tiles."""

    ifd: Ifd
    kind: str  # "thumbnail", "strips" or "tiles"
    spans: tuple[Span, ...]


def image_data(data: bytes, layout: TiffLayout, ifd: Ifd) -> list[ImageData]:
    """The spans of ``data`` holding image data that ``ifd`` points to (clipped to the data)."""
    found = []
    order = layout.order
    offsets = read_integers(data, order, ifd.get(JPEG_OFFSET))
    lengths = read_integers(data, order, ifd.get(JPEG_LENGTH))
    if offsets:
        length = lengths[0] if lengths else len(data) - offsets[0]
        found.append(ImageData(ifd, "thumbnail", _clip(data, [(offsets[0], length)])))
    for kind, offset_tag, count_tag in (("strips", STRIP_OFFSETS, STRIP_BYTE_COUNTS), ("tiles", TILE_OFFSETS, TILE_BYTE_COUNTS)):
        starts = read_integers(data, order, ifd.get(offset_tag))
        counts = read_integers(data, order, ifd.get(count_tag))
        if starts:
            counts = counts if len(counts) == len(starts) else tuple(len(data) - s for s in starts)
            found.append(ImageData(ifd, kind, _clip(data, list(zip(starts, counts)))))
    return [item for item in found if item.spans]


def _clip(data: bytes, pairs: list[tuple[int, int]]) -> tuple[Span, ...]:
    return tuple((start, min(start + length, len(data))) for start, length in pairs if 0 < start < len(data) and length > 0)


@dataclass(frozen=True)
class CleanedExif:
    data: bytes
    notes: tuple[str, ...]


def sanitise_exif(data: bytes, renderer: PreviewRenderer) -> CleanedExif:
    """``data`` (a TIFF structure holding metadata, not a photograph) with every image in it overwritten.

    The result has the same length as ``data``. Unparseable EXIF is still scanned for JPEG previews.
    """
    out = bytearray(data)
    notes: list[str] = []
    handled: list[Span] = []
    try:
        layout = parse_tiff(data)
    except (ValueError, struct.error):
        layout = None
    if layout is not None:
        for ifd in layout.ifds:
            for item in image_data(data, layout, ifd):
                handled.extend(item.spans)
                notes.append(_overwrite(out, data, layout, item, renderer))
            for entry in ifd.entries:
                if entry.size <= 4 or entry.value_offset + entry.size > len(data):
                    continue
                if entry.tag == XMP_TAG:
                    cleaned = xmp.clean_xmp(value_bytes(data, entry), keep_length=True)
                    text, found = cleaned.packet, cleaned.notes
                elif entry.type == 2 or entry.tag == USER_COMMENT:
                    text, count = remove_text_images(value_bytes(data, entry), keep_length=True)
                    found = (f"base64 image in EXIF tag 0x{entry.tag:04X} removed",) if count else ()
                else:
                    continue
                if found:
                    out[entry.value_offset : entry.value_offset + entry.size] = text
                    notes.extend(f"{n} ({ifd.name})" for n in found)
    count = overwrite_embedded_images(out, renderer, handled)
    if count:
        notes.append(f"{count} other embedded preview(s) in the EXIF (maker notes) re-rendered or removed")
    return CleanedExif(bytes(out), tuple(dict.fromkeys(notes)))


def _overwrite(out: bytearray, data: bytes, layout: TiffLayout, item: ImageData, renderer: PreviewRenderer) -> str:
    order, ifd = layout.order, item.ifd
    width = _first(data, order, ifd, IMAGE_WIDTH, 0)
    height = _first(data, order, ifd, IMAGE_LENGTH, 0)
    what = "EXIF thumbnail" if ifd.name == "IFD1" else f"EXIF {ifd.name} image"
    first_start, first_end = item.spans[0]
    rendered = b""
    if item.kind != "tiles" and data[first_start : first_start + 2] == b"\xff\xd8":
        # A JPEG (a thumbnail, or a JPEG-compressed strip): re-render it at its own size. Trust the
        # pointed length, but reach on to the end marker where the JPEG visibly carries on past it.
        extent = embedded_jpeg_extent(data, first_start)
        if extent.complete and extent.end > first_end:
            first_end = extent.end
        width, height = (extent.width, extent.height) if extent.width else (width, height)
        rendered = renderer.jpeg(width, height, first_end - first_start)
        _fill(out, first_start, first_end, rendered)
        for start, end in item.spans[1:]:
            _fill(out, start, end, b"")
        return f"{what} re-rendered from the blurred image" if rendered else f"{what} removed (zeroed)"
    raw_channels = _raw_channels(data, order, ifd) if item.kind == "strips" else 0
    total = sum(end - start for start, end in item.spans)
    if raw_channels and width and height and total >= width * height * raw_channels:
        pixels = renderer.raw(width, height, raw_channels)
        position = 0
        for start, end in item.spans:
            _fill(out, start, end, pixels[position : position + end - start])
            position += end - start
        return f"uncompressed {what} re-rendered from the blurred image"
    for start, end in item.spans:
        _fill(out, start, end, b"")
    return f"{what} removed (zeroed)"


def _raw_channels(data: bytes, order: str, ifd: Ifd) -> int:
    """1 or 3 if the strips hold plain 8-bit grey or RGB samples we can redraw, else 0."""
    if _first(data, order, ifd, COMPRESSION, 1) != 1 or _first(data, order, ifd, PLANAR_CONFIGURATION, 1) != 1:
        return 0
    samples = _first(data, order, ifd, SAMPLES_PER_PIXEL, 1)
    bits = read_integers(data, order, ifd.get(BITS_PER_SAMPLE))
    photometric = _first(data, order, ifd, PHOTOMETRIC, -1)
    if len(bits) != samples or any(b != 8 for b in bits):
        return 0
    if (samples, photometric) in ((1, 1), (3, 2)):
        return samples
    return 0


def _fill(out: bytearray, start: int, end: int, replacement: bytes) -> None:
    replacement = replacement[: end - start]
    out[start:end] = replacement + b"\x00" * (end - start - len(replacement))


def unrendered_image_data(data: bytes, rendered: list[bytes] | tuple[bytes, ...], skip_ifd0: bool = False) -> list[str]:
    """Audit: IFDs of ``data`` pointing at image data that is neither zeros nor a preview the renderer drew.

    Returns a description of each (empty when all is well). ``skip_ifd0`` leaves out the IFD0 image data
    (a TIFF file's own, blurred, picture).
    """
    try:
        layout = parse_tiff(data)
    except (ValueError, struct.error):
        return []
    leaks = []
    for ifd in layout.ifds:
        if skip_ifd0 and ifd.name == "IFD0":
            continue
        for item in image_data(data, layout, ifd):
            content = b"".join(data[a:b] for a, b in item.spans)
            if not content.strip(b"\x00"):
                continue
            if any(content.startswith(r) and not content[len(r) :].strip(b"\x00") for r in rendered):
                continue
            if any(r.startswith(content) for r in rendered):  # a pointer covering part of one of ours
                continue
            leaks.append(f"{item.kind} of EXIF {ifd.name}")
    return leaks


def strip_exif_header(payload: bytes) -> tuple[bytes, bytes]:
    """(``Exif\\0\\0`` header or b"", the TIFF structure after it)."""
    if payload.startswith(EXIF_HEADER):
        return EXIF_HEADER, payload[len(EXIF_HEADER) :]
    return b"", payload

