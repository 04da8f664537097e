"""Orientation evidence: every place an image file says which way up it is, read from its own bytes.

Why trapblur reads this itself instead of asking a decoder
----------------------------------------------------------
The tools that measure boxes disagree on which of these places counts, and the decoders hide the
difference: Pillow's ``getexif()`` fills a missing EXIF Orientation in from XMP ``tiff:Orientation``
(double-quoted attributes and elements only), Pillow 13 turns TIFFs upright *while loading them* and then
forgets the tag, OpenCV applies EXIF (mirrored values included) but never XMP, and OpenCV 5 applies a
TIFF's tag even when told to ignore it. To know which frame a detector's box is in (:mod:`.frames`), and
to decode pixels in the order the file stores them (:mod:`.codecs`), each source is read separately here:

* the *primary* EXIF Orientation (tag 274): in a JPEG the first APP1 ``Exif`` segment's IFD0, in a PNG the
  first ``eXIf`` chunk, in a TIFF IFD0. This is what image viewers and OpenCV apply.
* XMP ``tiff:Orientation``, in any namespace prefix, attribute (either quote) or element form: JPEG APP1
  XMP (standard and extended), PNG text chunks, TIFF tag 700.
* *other* values some readers use and others do not: a second EXIF block (or one after the first scan), a PNG
  ``Raw profile type exif`` text chunk (Pillow and ImageMagick read it, OpenCV does not), an Orientation
  tag inside a TIFF's EXIF sub-IFD, a repeated tag.

Also kept: where each tag lies in the file (:attr:`OrientationEvidence.sites`), so that
:func:`neutralised` can make a decode-only copy in which no decoder finds anything to apply.

Pure functions of bytes: no decoding, no files.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Sequence

from .errors import ImageError
from .jpeg import parse_jpeg

ORIENTATION_TAG = 0x0112
EXIF_IFD_TAG = 0x8769
XMP_TAG = 700
VALID_ORIENTATIONS = frozenset(range(1, 9))
EXIF_HEADER = b"Exif\x00\x00"
XMP_SIGNATURES = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")

_APP1 = 0xE1
_SOS = 0xDA
_INTEGER_TYPES = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i"}  # TIFF field type -> struct code
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
_SHORT = 3
# tiff:Orientation in any prefix: attribute form (either quote) and element form.
_XMP_ATTRIBUTE = re.compile(rb"[\w.-]+:Orientation\s*=\s*([\"'])\s*([+-]?\d{1,6})\s*\1")
_XMP_ELEMENT = re.compile(rb"<([\w.-]+):Orientation(?:\s[^>]*)?>\s*([+-]?\d{1,6})\s*</\1:Orientation\s*>")
_XMP_NAME = re.compile(rb":Orientation")
_RAW_PROFILE_KEYWORDS = (b"Raw profile type exif", b"Raw profile type APP1")


@dataclass(frozen=True)
class TagSite:
    """Where an orientation statement lies in the file: a 12-byte IFD entry, or an XMP text range."""

    kind: str  # "ifd-entry" or "xmp"
    start: int
    end: int
    little_endian: bool = True


@dataclass(frozen=True)
class OrientationEvidence:
    """What one file says about its orientation, place by place (values as stored, valid or not)."""

    exif: int | None = None  # the primary EXIF Orientation, None when there is no such tag
    has_exif: bool = False  # the file has an EXIF block at all (MegaDetector's loader needs one)
    xmp: tuple[int, ...] = ()  # every XMP tiff:Orientation value
    other: tuple[int, ...] = ()  # values only some readers use (see the module docstring)
    irregular: bool = False  # the primary tag has an odd type or count: readers may read it differently
    sites: tuple[TagSite, ...] = ()

    @property
    def display(self) -> int:
        """The orientation image viewers and OpenCV apply: the primary EXIF value, 1 when absent or invalid."""
        return self.exif if self.exif in VALID_ORIENTATIONS else 1

    @property
    def alternatives(self) -> frozenset[int]:
        """Valid orientations other readers may apply instead of :attr:`display` (1 included when the
        primary tag is irregular, since a strict reader then applies nothing)."""
        values = {v for v in (*self.xmp, *self.other) if v in VALID_ORIENTATIONS}
        if self.irregular:
            values.add(1)
        return frozenset(values - {self.display})

    def describe(self) -> str:
        """A short account for reports: "EXIF orientation 6, XMP orientation 3"."""
        parts = []
        if self.exif is not None:
            parts.append(f"EXIF orientation {self.exif}" + (" (irregular tag)" if self.irregular else ""))
        elif not self.has_exif:
            parts.append("no EXIF")
        else:
            parts.append("EXIF without an orientation tag")
        if self.xmp:
            parts.append("XMP orientation " + "/".join(str(v) for v in self.xmp))
        if self.other:
            parts.append("other EXIF orientation " + "/".join(str(v) for v in self.other))
        return ", ".join(parts)


def read_evidence(data: bytes, kind: str, jpeg_segments: Sequence | None = None) -> OrientationEvidence:
    """The orientation evidence of a ``kind`` ("JPEG", "PNG" or "TIFF") file.

    ``jpeg_segments`` are the JPEG's marker segments (:class:`trapblur.jpeg.Segment`) when already parsed;
    otherwise the JPEG is parsed here, by the same parser, so that every caller reads the same evidence.
    Raises :class:`ImageError` when a primary EXIF block is too broken to read its orientation: then no one
    can say which way the detector saw the image.
    """
    collector = _Collector()
    if kind == "JPEG":
        _read_jpeg(data, jpeg_segments, collector)
    elif kind == "PNG":
        _read_png(data, collector)
        collector.sites.clear()  # PNGs are decoded by OpenCV, which is told to ignore orientation
    elif kind == "TIFF":
        collector.has_exif = True
        collector.tiff(data, 0, primary=True, strict=True)
        for entry in _ifd0_entries(data, 0):
            if entry.tag == XMP_TAG:
                start, end = entry.data_range(data, 0)
                collector.xmp_text(data, start, end)
    return collector.evidence()


def neutralised(data: bytes, evidence: OrientationEvidence) -> io.BytesIO:
    """A decode-only in-memory copy of ``data`` in which every orientation statement reads "1" or nothing.

    EXIF Orientation entries become a plain SHORT 1 and XMP ``...:Orientation`` names are defaulted (same
    length, so no offset moves). Decoders that apply orientation on their own (Pillow 13 and OpenCV 5 for
    TIFF) then hand back the pixels exactly as stored. Never written out: the output keeps the original's
    metadata. One copy of the bytes at most (none when there is nothing to neutralise).
    """
    stream = io.BytesIO(data)
    for site in evidence.sites:
        if site.kind == "ifd-entry":  # keep the tag number, rewrite type, count and value
            stream.seek(site.start + 2)
            stream.write(struct.pack(("<" if site.little_endian else ">") + "HIHH", _SHORT, 1, 1, 0))
        else:
            stream.seek(site.start)
            stream.write(_XMP_NAME.sub(b":Orientatio_", data[site.start : site.end]))
    stream.seek(0)
    return stream


# ----------------------------------------------------------------------------------------------------------
# Containers


def _read_jpeg(data: bytes, segments: Sequence | None, collector: _Collector) -> None:
    """APP1 EXIF and XMP. The primary EXIF is the first before the first scan: what libjpeg (OpenCV) and
    Pillow read; an EXIF block after it, or a second one, is only another statement."""
    if segments is None:
        segments = parse_jpeg(data).segments
    scanned = False
    for segment in segments:
        scanned = scanned or segment.marker == _SOS
        if segment.marker != _APP1:
            continue
        start, end = segment.start + 4, segment.end
        if data.startswith(EXIF_HEADER, start):
            collector.has_exif = True
            first = collector.exif_blocks == 0 and not scanned
            collector.exif_blocks += 1
            collector.tiff(data, start + len(EXIF_HEADER), primary=first, strict=first, limit=end)
        elif any(data.startswith(signature, start) for signature in XMP_SIGNATURES):
            collector.xmp_text(data, start, end)


def _read_png(data: bytes, collector: _Collector) -> None:
    position = 8
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        start, end = position + 8, min(len(data), position + 8 + length)
        if kind == b"eXIf":
            base = start + len(EXIF_HEADER) if data.startswith(EXIF_HEADER, start) else start
            collector.has_exif = True
            first = collector.exif_blocks == 0
            collector.exif_blocks += 1
            collector.tiff(data, base, primary=first, strict=first, limit=end)
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            keyword, text = _png_text(data[start:end], kind)
            if keyword in _RAW_PROFILE_KEYWORDS:
                collector.has_exif = True
                _read_raw_profile(text, collector)
            elif text is not None:
                collector.xmp_values(text)
        elif kind == b"IEND":
            return
        position = end + 4


def _png_text(chunk: bytes, kind: bytes) -> tuple[bytes, bytes | None]:
    keyword, _, rest = chunk.partition(b"\x00")
    try:
        if kind == b"tEXt":
            return keyword, rest
        if kind == b"zTXt":
            return keyword, zlib.decompress(rest[1:])
        compressed, rest = rest[0], rest[2:]
        _, _, rest = rest.partition(b"\x00")  # language tag
        _, _, text = rest.partition(b"\x00")  # translated keyword
        return keyword, zlib.decompress(text) if compressed else text
    except (zlib.error, IndexError):
        return keyword, None


def _read_raw_profile(text: bytes | None, collector: _Collector) -> None:
    """ImageMagick's "Raw profile type exif": a name line, a length line, then hex digits."""
    if text is None:
        return
    lines = text.strip().split(b"\n", 2)
    if len(lines) < 3:
        return
    try:
        blob = bytes.fromhex(lines[2].decode("ascii", "ignore").replace("\n", "").replace(" ", ""))
    except ValueError:
        return
    base = len(EXIF_HEADER) if blob.startswith(EXIF_HEADER) else 0
    shadow = _Collector()
    shadow.tiff(blob, base, primary=True, strict=False)
    if shadow.primary is not None:
        collector.other.append(shadow.primary)


# ----------------------------------------------------------------------------------------------------------
# TIFF structures (TIFF files and EXIF blocks are the same thing)


@dataclass(frozen=True)
class _Entry:
    tag: int
    type: int
    count: int
    position: int  # of the 12-byte entry
    little_endian: bool

    def data_range(self, data: bytes, base: int) -> tuple[int, int]:
        size = _TYPE_SIZES.get(self.type, 1) * self.count
        if size <= 4:
            return self.position + 8, self.position + 8 + size
        (offset,) = struct.unpack_from("<I" if self.little_endian else ">I", data, self.position + 8)
        start = base + offset
        return start, min(len(data), start + size)

    def first_integer(self, data: bytes, base: int) -> int | None:
        code = _INTEGER_TYPES.get(self.type)
        if code is None or self.count < 1:
            return None
        start, end = self.data_range(data, base)
        if end - start < struct.calcsize(code):
            return None
        return struct.unpack_from(("<" if self.little_endian else ">") + code, data, start)[0]


def _byte_order(data: bytes, base: int) -> bool | None:
    head = data[base : base + 4]
    if head == b"II*\x00":
        return True
    if head == b"MM\x00*":
        return False
    return None


def _ifd_entries(data: bytes, base: int, offset: int, little: bool, limit: int) -> list[_Entry] | None:
    order = "<" if little else ">"
    start = base + offset
    if offset < 8 or start + 2 > limit:
        return None
    (count,) = struct.unpack_from(order + "H", data, start)
    if start + 2 + 12 * count > limit:
        return None
    entries = []
    for index in range(count):
        position = start + 2 + 12 * index
        tag, kind, number = struct.unpack_from(order + "HHI", data, position)
        entries.append(_Entry(tag, kind, number, position, little))
    return entries


def _ifd0_entries(data: bytes, base: int, limit: int | None = None) -> list[_Entry]:
    little = _byte_order(data, base)
    if little is None:
        return []
    (offset,) = struct.unpack_from("<I" if little else ">I", data, base + 4)
    return _ifd_entries(data, base, offset, little, limit or len(data)) or []


class _Collector:
    """Accumulates evidence while the containers are walked."""

    def __init__(self) -> None:
        self.primary: int | None = None
        self.has_exif = False
        self.irregular = False
        self.exif_blocks = 0
        self.xmp: list[int] = []
        self.other: list[int] = []
        self.sites: list[TagSite] = []

    def evidence(self) -> OrientationEvidence:
        return OrientationEvidence(self.primary, self.has_exif, tuple(self.xmp), tuple(self.other),
                                   self.irregular, tuple(self.sites))

    def tiff(self, data: bytes, base: int, *, primary: bool, strict: bool, limit: int | None = None) -> None:
        """Read IFD0's Orientation (and the EXIF sub-IFD's, if any) from the TIFF structure at ``base``."""
        limit = min(len(data), limit or len(data))
        little = _byte_order(data, base) if base + 8 <= limit else None
        if little is None:
            if strict:
                raise ImageError("cannot read the EXIF orientation (the EXIF block has no valid TIFF header)")
            return
        (offset,) = struct.unpack_from("<I" if little else ">I", data, base + 4)
        entries = _ifd_entries(data, base, offset, little, limit)
        if entries is None:
            if strict:
                raise ImageError("cannot read the EXIF orientation (the EXIF block's first directory is cut off)")
            return
        found = [e for e in entries if e.tag == ORIENTATION_TAG]
        values = [e.first_integer(data, base) for e in found]
        for entry in found:
            self.sites.append(TagSite("ifd-entry", entry.position, entry.position + 12, little))
        if primary and found:
            self.primary = values[0] if values[0] is not None else 0
            self.irregular = (found[0].type != _SHORT or found[0].count != 1 or values[0] is None
                              or len(set(values)) > 1)
            self.other.extend(v for v in values[1:] if v is not None)
        else:
            self.other.extend(v for v in values if v is not None)
        for entry in entries:
            if entry.tag == EXIF_IFD_TAG and entry.type in (4, 13) and entry.count == 1:
                (sub,) = struct.unpack_from("<I" if little else ">I", data, entry.position + 8)
                for child in _ifd_entries(data, base, sub, little, limit) or []:
                    if child.tag == ORIENTATION_TAG:
                        value = child.first_integer(data, base)
                        if value is not None:
                            self.other.append(value)
                        self.sites.append(TagSite("ifd-entry", child.position, child.position + 12, little))

    def xmp_text(self, data: bytes, start: int, end: int) -> None:
        text = data[start:end]
        if b"Orientation" in text:
            self.xmp_values(text)
            self.sites.append(TagSite("xmp", start, end))

    def xmp_values(self, text: bytes) -> None:
        if b"Orientation" not in text:
            return
        self.xmp.extend(int(m.group(2)) for m in _XMP_ATTRIBUTE.finditer(text))
        self.xmp.extend(int(m.group(2)) for m in _XMP_ELEMENT.finditer(text))
