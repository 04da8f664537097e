"""JPEG at the byte level: structure, metadata segments, and the previews hidden inside them.

Why this module exists
----------------------
* **Fail closed on broken files.** A JPEG whose data stops before its end-of-image marker is reported as
  truncated instead of being half-decoded (some decoders fill the rest with grey and say nothing).
* **Metadata kept byte for byte.** After the pixels are re-encoded, every APPn and COM segment of the
  original (EXIF, XMP, ICC, IPTC, maker notes, comments) is copied into the new file unchanged, so dates,
  camera settings and colour profiles survive exactly.
* **Except the previews, which would leak the person.** Camera JPEGs carry small copies of the photograph:
  the EXIF thumbnail, Photoshop/maker-note previews, Multi-Picture (MPF) previews appended after the main
  image, base64 thumbnails in XMP. Each embedded JPEG found in a metadata segment is re-rendered *in place*
  from the blurred image, at its own size, and padded to its original length so that no offset in the EXIF
  changes. MPF segments and anything after the main image's end are dropped (their offsets cannot survive a
  re-encode anyway). XMP base64 thumbnails are emptied.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Callable, Sequence

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
MPF_SIGNATURE = b"MPF\x00"
XMP_SIGNATURE = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_THUMBNAIL = re.compile(
    rb"(<xmpGImg:image>)[^<]*(</xmpGImg:image>)|(xmpGImg:image=\")[^\"]*(\")"
)


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


RenderPreview = Callable[[int, int, int], bytes]
"""Given (width, height, max_bytes), return a JPEG of the blurred image at that size, or b"" if none fits."""


@dataclass(frozen=True)
class SanitisedMetadata:
    segments: tuple[bytes, ...]
    notes: tuple[str, ...]


def sanitise_metadata(data: bytes, layout: JpegLayout, render: RenderPreview) -> SanitisedMetadata:
    """The original's metadata segments, with every embedded preview re-rendered or removed."""
    segments: list[bytes] = []
    notes: list[str] = []
    for segment in layout.metadata_segments:
        raw = data[segment.start : segment.end]
        payload = raw[4:]
        if segment.marker == APP0 + 2 and payload.startswith(MPF_SIGNATURE):
            notes.append("multi-picture (MPF) preview removed")
            continue
        if segment.marker == APP0 + 1 and payload.startswith(XMP_SIGNATURE):
            cleaned, count = _XMP_THUMBNAIL.subn(lambda m: (m.group(1) or m.group(3)) + (m.group(2) or m.group(4)), payload)
            if count:
                notes.append("XMP thumbnail removed")
                raw = raw[:2] + struct.pack(">H", len(cleaned) + 2) + cleaned
        raw, count = rerender_embedded_jpegs(raw, start=4, render=render)
        if count:
            notes.append(f"{count} embedded preview(s) re-rendered from the blurred image")
        segments.append(raw)
    if len(data) > layout.end and data[layout.end :].strip(b"\x00"):
        notes.append("data after the end of the image removed")
    return SanitisedMetadata(tuple(segments), tuple(notes))


def rerender_embedded_jpegs(blob: bytes, start: int, render: RenderPreview) -> tuple[bytes, int]:
    """Replace each complete JPEG embedded in ``blob[start:]`` by ``render``'s, padded to the same length.

    The replacement never changes the blob's length, so offsets pointing into it (EXIF's thumbnail
    offset and length, for instance) stay valid. A preview that cannot be rendered small enough is
    overwritten with zero bytes: it shows nothing, which is what privacy requires.
    """
    out = bytearray(blob)
    count = 0
    position = blob.find(EMBEDDED_JPEG_START, start)
    while position >= 0:
        try:
            layout = parse_jpeg(blob, position)
        except ImageError:
            position = blob.find(EMBEDDED_JPEG_START, position + 1)
            continue
        length = layout.end - position
        replacement = render(layout.width, layout.height, length)
        if len(replacement) > length:
            replacement = b""
        out[position : layout.end] = replacement + b"\x00" * (length - len(replacement))
        count += 1
        position = blob.find(EMBEDDED_JPEG_START, layout.end)
    return bytes(out), count
