"""JPEG at the byte level: structure, metadata segments, and JPEGs hidden inside other data.

Why this module exists
----------------------
* **Fail closed on broken files.** A JPEG whose data stops before its end-of-image marker is reported as
  truncated instead of being half-decoded (some decoders fill the rest with grey and say nothing).
* **Metadata kept byte for byte.** After the pixels are re-encoded, the original's APPn and COM segments
  are put back in front of the new image data (:func:`replace_metadata`); which of them are kept, cleaned
  or removed is decided in :mod:`trapblur.jpeg_metadata`.
* **Previews found even when broken.** A thumbnail inside metadata may lack its end marker or be cut off;
  :func:`embedded_jpeg_extent` says how far its data can reach all the same, so that all of it can be
  overwritten, and :func:`looks_like_jpeg` tells a JPEG from four random bytes that happen to match.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Sequence

from .errors import ImageError

SOI = b"\xff\xd8"
EMBEDDED_JPEG_START = b"\xff\xd8\xff"
MARKER_SOS = 0xDA
MARKER_EOI = 0xD9
MARKER_DRI = 0xDD
MARKER_COM = 0xFE
APP0, APP15 = 0xE0, 0xEF
STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD8)}  # TEM and RST0-7 carry no length
# Start-of-frame markers: SOF0-3, 5-7, 9-11, 13-15 (C4 = DHT, C8 = JPG, CC = DAC are not frames).
FRAME_MARKERS = {m for m in range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC}
PROGRESSIVE_FRAMES = {0xC2, 0xC6, 0xCA, 0xCE}
ARITHMETIC_FRAMES = {0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
LOSSLESS_OR_HIERARCHICAL_FRAMES = {0xC3, 0xC5, 0xC6, 0xC7, 0xCB, 0xCD, 0xCE, 0xCF}
# In entropy-coded data 0xFF is always followed by 0x00 (stuffing) or a restart marker; anything else
# ends the scan.
_SCAN_END = re.compile(rb"\xff(?!\x00|[\xd0-\xd7]|\xff)")


@dataclass(frozen=True)
class Segment:
    """A marker segment: ``data[start:end]`` is the whole segment, marker and length included."""

    marker: int
    start: int
    end: int


@dataclass(frozen=True)
class Component:
    identifier: int
    h_sampling: int
    v_sampling: int
    table: int


@dataclass(frozen=True)
class JpegLayout:
    """What trapblur needs to know about a JPEG's structure."""

    segments: tuple[Segment, ...]
    frame_marker: int
    width: int
    height: int
    precision: int
    components: tuple[Component, ...]
    restart_interval: int
    end: int  # offset just after the main image's end-of-image marker

    @property
    def progressive(self) -> bool:
        return self.frame_marker in PROGRESSIVE_FRAMES

    @property
    def arithmetic(self) -> bool:
        return self.frame_marker in ARITHMETIC_FRAMES

    @property
    def metadata_segments(self) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if APP0 <= s.marker <= APP15 or s.marker == MARKER_COM)


def parse_jpeg(data: bytes, offset: int = 0) -> JpegLayout:
    """Walk the markers of the JPEG starting at ``offset``; raise :class:`ImageError` if it is broken."""
    if data[offset : offset + 2] != SOI:
        raise ImageError("not a JPEG file (no start-of-image marker)")
    position = offset + 2
    segments: list[Segment] = []
    frame: tuple[int, int, int, int, tuple[Component, ...]] | None = None
    restart_interval = 0
    size = len(data)
    while True:
        while position < size and data[position] == 0xFF and position + 1 < size and data[position + 1] == 0xFF:
            position += 1  # fill bytes
        if position + 2 > size or data[position] != 0xFF:
            raise ImageError("truncated or corrupt JPEG: the data ends before the end-of-image marker")
        marker = data[position + 1]
        if marker == MARKER_EOI:
            end = position + 2
            break
        if marker in STANDALONE_MARKERS:
            position += 2
            continue
        if position + 4 > size:
            raise ImageError("truncated JPEG: a marker segment is cut off")
        (length,) = struct.unpack_from(">H", data, position + 2)
        segment_end = position + 2 + length
        if length < 2 or segment_end > size:
            raise ImageError("truncated or corrupt JPEG: a marker segment runs past the end of the file")
        segments.append(Segment(marker, position, segment_end))
        if marker in FRAME_MARKERS and frame is None:
            frame = _read_frame(data, position, marker)
        elif marker == MARKER_DRI and length >= 4:
            (restart_interval,) = struct.unpack_from(">H", data, position + 4)
        position = segment_end
        if marker == MARKER_SOS:
            match = _SCAN_END.search(data, position)
            if match is None:
                raise ImageError("truncated JPEG: the image data ends before the end-of-image marker")
            position = match.start()
    if frame is None:
        raise ImageError("corrupt JPEG: no frame header (image size) before the end-of-image marker")
    marker, precision, height, width, components = frame
    return JpegLayout(tuple(segments), marker, width, height, precision, components, restart_interval, end)


def _read_frame(data: bytes, position: int, marker: int) -> tuple[int, int, int, int, tuple[Component, ...]]:
    precision, height, width, count = struct.unpack_from(">BHHB", data, position + 4)
    components = []
    for index in range(count):
        identifier, sampling, table = struct.unpack_from(">BBB", data, position + 10 + 3 * index)
        components.append(Component(identifier, sampling >> 4, sampling & 0x0F, table))
    if width == 0 or height == 0:
        raise ImageError("unsupported JPEG: the frame header gives no image size (DNL marker)")
    return marker, precision, height, width, tuple(components)


def header_segments(data: bytes) -> tuple[Segment, ...]:
    """The marker segments before the first scan (where an output written by trapblur has all its
    metadata), without reading the entropy-coded data: cheap enough to check every output again."""
    if data[:2] != SOI:
        raise ImageError("not a JPEG file (no start-of-image marker)")
    position = 2
    segments = []
    while True:
        while position + 1 < len(data) and data[position] == 0xFF and data[position + 1] == 0xFF:
            position += 1
        if position + 4 > len(data) or data[position] != 0xFF:
            raise ImageError("truncated or corrupt JPEG: the headers end before the first scan")
        marker = data[position + 1]
        if marker in STANDALONE_MARKERS:
            position += 2
            continue
        (length,) = struct.unpack_from(">H", data, position + 2)
        if length < 2 or position + 2 + length > len(data):
            raise ImageError("truncated or corrupt JPEG: a marker segment runs past the end of the file")
        segments.append(Segment(marker, position, position + 2 + length))
        if marker == MARKER_SOS:
            return tuple(segments)
        position += 2 + length


def replace_metadata(encoded: bytes, metadata: Sequence[bytes]) -> bytes:
    """``encoded`` with its own APPn/COM segments replaced by ``metadata`` (whole segments, in order).

    The encoder writes its own metadata (a JFIF or Adobe header) before its first table; everything from
    that table to the end-of-image marker (tables, frame header, scans) is kept as it is.
    """
    layout = parse_jpeg(encoded)
    body = [s for s in layout.segments if not (APP0 <= s.marker <= APP15 or s.marker == MARKER_COM)]
    if not body or any(s.start > body[0].start for s in layout.metadata_segments):
        raise ImageError("internal error: unexpected segment order in the re-encoded JPEG")
    return SOI + b"".join(metadata) + encoded[body[0].start : layout.end]


# Markers that may follow a start-of-image: tables, frame headers, APPn, COM, DRI (not RSTn, SOI, EOI, TEM).
_FIRST_MARKERS = frozenset(range(0xC0, 0xFF)) - {0xC8, *range(0xD0, 0xDA)}


def looks_like_jpeg(blob: bytes, position: int, if_cut: bool = False) -> bool:
    """Whether a JPEG starts at ``position``: SOI, a marker segment, and a second marker right after it.

    Four bytes ``FF D8 FF xx`` occur by chance about once in 2^28 random bytes; asking for the second
    marker to chain from the first segment's length makes a false match about 2^12 times rarer still,
    while every real JPEG (even one cut off after its headers) passes. ``if_cut`` is the answer when
    ``blob`` ends before the second marker.
    """
    if blob[position : position + 3] != b"\xff\xd8\xff":
        return False
    if position + 6 > len(blob):
        return if_cut
    if blob[position + 3] not in _FIRST_MARKERS:
        return False
    (length,) = struct.unpack_from(">H", blob, position + 4)
    following = position + 4 + length
    if length < 2:
        return False
    if following + 2 > len(blob):
        return if_cut
    return blob[following] == 0xFF and (blob[following + 1] in _FIRST_MARKERS or blob[following + 1] == 0xFF)


@dataclass(frozen=True)
class EmbeddedJpeg:
    """Where a JPEG embedded in other data starts and how far its data can reach."""

    start: int
    end: int
    width: int  # 0 when no frame header was found
    height: int
    complete: bool  # ended with its own end-of-image marker


def embedded_jpeg_extent(blob: bytes, start: int, limit: int | None = None) -> EmbeddedJpeg:
    """The span of the JPEG at ``start``, walked leniently: to its end-of-image marker when it has one.

    A preview without an end marker, with a broken segment or cut off by the container still holds
    decodable pixels. The walk then stops where the JPEG structure stops: at the end of the container
    (``limit``), or after the entropy-coded data, which cannot contain an unstuffed ``FF`` byte, so every
    byte that could belong to the picture lies inside the span returned.
    """
    limit = len(blob) if limit is None else min(limit, len(blob))
    width = height = 0
    position = start + 2
    while True:
        while position + 1 < limit and blob[position] == 0xFF and blob[position + 1] == 0xFF:
            position += 1
        if position + 2 > limit:
            return EmbeddedJpeg(start, limit, width, height, False)
        marker = blob[position + 1]
        if blob[position] != 0xFF or (marker < 0xC0 and marker != 0x01) or marker == 0xD8:
            return EmbeddedJpeg(start, position, width, height, False)  # not a marker: the JPEG stops here
        if marker == MARKER_EOI:
            return EmbeddedJpeg(start, position + 2, width, height, True)
        if marker in STANDALONE_MARKERS:
            position += 2
            continue
        if position + 4 > limit:
            return EmbeddedJpeg(start, limit, width, height, False)
        (length,) = struct.unpack_from(">H", blob, position + 2)
        segment_end = position + 2 + length
        if length < 2:
            return EmbeddedJpeg(start, position, width, height, False)
        if segment_end > limit:
            return EmbeddedJpeg(start, limit, width, height, False)
        if marker in FRAME_MARKERS and length >= 7 and not width:
            height, width = struct.unpack_from(">HH", blob, position + 5)
        position = segment_end
        if marker == MARKER_SOS:
            match = _SCAN_END.search(blob, position, limit)
            if match is None:
                return EmbeddedJpeg(start, limit, width, height, False)
            position = match.start()
