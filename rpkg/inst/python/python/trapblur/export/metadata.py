"""Metadata for exported images: keep what the user names, never GPS positions or serial numbers.

Two uses:

* Zooniverse: the new JPEG carries *no* metadata except the EXIF tags the user keeps by name
  (``keep_metadata=["DateTimeOriginal"]``). Orientation is applied to the pixels, so it is never kept.
* Camtrap DP: the shareable copy's bytes are kept, pixels and scans untouched, but its metadata is cleaned:
  EXIF is rebuilt from its own tags less GPS, serial numbers, maker notes (where cameras keep their serial
  number) and the thumbnail; XMP, IPTC/Photoshop, comments and multi-picture previews are dropped (each can
  carry a position or a serial number); ICC profiles and the JFIF/Adobe headers, which change how the pixels
  look, are kept. PNG text and EXIF chunks are dropped.

What is *sensitive* is decided by tag name, so that the user cannot keep it even by asking: every GPS tag,
every tag whose name contains "serial", maker notes, and the camera owner's name.
"""

from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from PIL import ExifTags, Image

from .. import jpeg, png
from ..errors import ImageError, OptionsError

log = logging.getLogger(__name__)

EXIF_IFD = int(ExifTags.IFD.Exif)
GPS_IFD = int(ExifTags.IFD.GPSInfo)
INTEROP_IFD = int(ExifTags.IFD.Interop)
ORIENTATION = int(ExifTags.Base.Orientation)
_EXIF_SIGNATURE = b"Exif\x00\x00"
_ICC_SIGNATURE = b"ICC_PROFILE\x00"
_JFIF_SIGNATURE = b"JFIF\x00"
_ADOBE_SIGNATURE = b"Adobe"

# Tags that describe where the file's data lies or hold other containers (XMP, IPTC, Photoshop blocks), not
# the photograph: never copied into a rebuilt EXIF.
_STRUCTURAL_TAGS = frozenset({
    EXIF_IFD, GPS_IFD, INTEROP_IFD,
    0x0100, 0x0101, 0x0102, 0x0103, 0x0106, 0x0111, 0x0115, 0x0116, 0x0117, 0x011C, 0x0142, 0x0143, 0x0144,
    0x0145, 0x014A, 0x0201, 0x0202, 0x02BC, 0x83BB, 0x8649, 0x8773,
})
_NAME_OF: dict[int, str] = dict(ExifTags.TAGS)
_ID_OF: dict[str, int] = {}
for _tag, _name in sorted(ExifTags.TAGS.items()):
    _ID_OF.setdefault(_name.lower(), _tag)
_SENSITIVE_NAMES = frozenset({"makernote", "cameraownername", "ownername", "gpsinfo"})


def is_sensitive(name: str) -> bool:
    """True for tags never exported: GPS, serial numbers, maker notes, the camera owner's name."""
    lowered = name.lower()
    return lowered.startswith("gps") or "serial" in lowered or lowered in _SENSITIVE_NAMES


def check_keep_names(names: Iterable[str]) -> tuple[str, ...]:
    """The EXIF tag names in ``names``, spelt as EXIF spells them; raises :class:`OptionsError` otherwise."""
    if isinstance(names, str):
        names = [names]
    checked: list[str] = []
    for raw in names:
        if not isinstance(raw, str) or not raw.strip():
            raise OptionsError(f"keep_metadata must be EXIF tag names like 'DateTimeOriginal', got {raw!r}")
        name = raw.strip()
        if is_sensitive(name):
            raise OptionsError(
                f"keep_metadata: {name} is never exported: GPS positions, serial numbers, maker notes and "
                "owner names could identify a place, a person or a camera"
            )
        tag = _ID_OF.get(name.lower())
        if tag is None:
            raise OptionsError(
                f"keep_metadata: {name!r} is not an EXIF tag name (examples: DateTimeOriginal, Make, Model, "
                "ExposureTime, Artist, Copyright)"
            )
        if tag == ORIENTATION:
            raise OptionsError("keep_metadata: Orientation is applied to the exported pixels, so it cannot be kept")
        if tag in _STRUCTURAL_TAGS:
            raise OptionsError(f"keep_metadata: {name} describes the file's layout and cannot be kept")
        checked.append(_NAME_OF[tag])
    return tuple(dict.fromkeys(checked))


# ----------------------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class ImageTags:
    """The EXIF tags of one image that an export may use: IFD0 and the Exif sub-IFD, by tag id."""

    base: Mapping[int, Any]
    exif: Mapping[int, Any]

    def get(self, tag: int) -> Any:
        return self.exif.get(tag, self.base.get(tag))

    def capture_time(self) -> tuple[datetime | None, str]:
        """When the photograph was taken (DateTimeOriginal, else DateTimeDigitized, else DateTime).

        Returns the time (None when no tag parses) and its text as ISO 8601 (``2021-04-11T20:43:09``,
        with the offset when the camera wrote OffsetTimeOriginal), or ``""``.
        """
        for tag, subsecond_tag, offset_tag in ((0x9003, 0x9291, 0x9011), (0x9004, 0x9292, 0x9012), (0x0132, 0x9290, 0x9010)):
            taken = _parse_exif_time(self.get(tag))
            if taken is None:
                continue
            subsecond = str(self.get(subsecond_tag) or "").strip().strip("\x00")
            if subsecond.isdigit():
                taken = taken.replace(microsecond=int((subsecond + "000000")[:6]))
            text = taken.replace(microsecond=0).isoformat()
            offset = str(self.get(offset_tag) or "").strip().strip("\x00")
            if len(offset) == 6 and offset[0] in "+-" and offset[3] == ":":
                text += offset
            return taken, text
        return None, ""


def read_tags(image: Image.Image) -> ImageTags:
    """The EXIF tags of an opened image (JPEG APP1, PNG eXIf, TIFF IFD0); empty when it has none or they break."""
    try:
        exif = image.getexif()
        base = {tag: value for tag, value in exif.items()}
        sub = dict(exif.get_ifd(EXIF_IFD)) if EXIF_IFD in exif else {}
    except Exception as exc:  # broken EXIF: nothing from it is used (and nothing of it is exported)
        log.info("unreadable EXIF (%s): ignored", exc)
        return ImageTags({}, {})
    return ImageTags(base, sub)


def _parse_exif_time(value: Any) -> datetime | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    text = value.strip().strip("\x00").strip()
    for layout in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text[:19] if "%S" in layout else text[:16], layout)
        except ValueError:
            continue
    return None


# ----------------------------------------------------------------------------------------------------------
# Writing EXIF


def build_exif_segment(tags: ImageTags, keep: Callable[[str], bool]) -> bytes:
    """A JPEG APP1 segment with the tags of ``tags`` whose name ``keep`` accepts (never sensitive ones).

    Returns b"" when no tag is kept. Values Pillow cannot write are left out, one by one.
    """
    chosen: list[tuple[bool, int, Any]] = []
    for in_sub, source in ((False, tags.base), (True, tags.exif)):
        for tag, value in source.items():
            name = _NAME_OF.get(tag)
            if name is None or tag in _STRUCTURAL_TAGS or is_sensitive(name) or not keep(name):
                continue
            chosen.append((in_sub, tag, value))
    if not chosen:
        return b""
    payload = _exif_payload(chosen)
    if payload is None:  # some value cannot be serialised: keep the ones that can
        writable = [item for item in chosen if _exif_payload([item]) is not None]
        payload = _exif_payload(writable) if writable else None
    if payload is None:
        return b""
    if len(payload) + 2 > 0xFFFF:
        raise ImageError("the kept EXIF tags do not fit in one JPEG segment (64 KB)")
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _exif_payload(items: list[tuple[bool, int, Any]]) -> bytes | None:
    exif = Image.Exif()
    for in_sub, tag, value in items:
        (exif.get_ifd(EXIF_IFD) if in_sub else exif)[tag] = value
    try:
        data = exif.tobytes()
    except Exception:
        return None
    return data if data.startswith(_EXIF_SIGNATURE) else _EXIF_SIGNATURE + data


def insert_after_header(encoded: bytes, segment: bytes) -> bytes:
    """``encoded`` (a JPEG an encoder just wrote) with ``segment`` after its JFIF header, where EXIF belongs."""
    if not segment:
        return encoded
    position = 2
    if encoded[2:4] == b"\xff\xe0":
        (length,) = struct.unpack_from(">H", encoded, 4)
        position = 4 + length
    return encoded[:position] + segment + encoded[position:]


# ----------------------------------------------------------------------------------------------------------
# Cleaning a whole file (Camtrap DP copies)


@dataclass(frozen=True)
class CleanedFile:
    data: bytes
    removed: tuple[str, ...]  # what was taken out, for the report


def clean_file(data: bytes) -> CleanedFile:
    """The file's bytes with GPS, serial numbers and the containers that may hold them removed.

    JPEG and PNG are cleaned; other formats raise :class:`ImageError` (they are then not made public).
    """
    if data.startswith(jpeg.SOI + b"\xff"):
        return _clean_jpeg(data)
    if data.startswith(png.SIGNATURE):
        return _clean_png(data)
    raise ImageError("only JPEG and PNG files can be cleaned of GPS and serial-number metadata")


def _clean_jpeg(data: bytes) -> CleanedFile:
    layout = jpeg.parse_jpeg(data)
    with Image.open(io.BytesIO(data)) as header:
        tags = read_tags(header)
    exif_segment = build_exif_segment(tags, keep=lambda name: True)
    removed: list[str] = []
    out = bytearray(jpeg.SOI)
    cursor = 2
    exif_written = False
    for segment in layout.segments:
        out += data[cursor : segment.start]
        cursor = segment.end
        raw = data[segment.start : segment.end]
        if not (jpeg.APP0 <= segment.marker <= jpeg.APP15 or segment.marker == jpeg.MARKER_COM):
            out += raw
            continue
        kind = _segment_kind(segment.marker, raw[4:])
        if kind == "keep":
            out += raw
        elif kind == "exif":
            if not exif_written:
                out += exif_segment
                exif_written = True
            removed.append("EXIF rebuilt without GPS, serial numbers, maker notes or thumbnail")
        else:
            removed.append(kind)
    out += data[cursor : layout.end]
    if len(data) > layout.end and data[layout.end :].strip(b"\x00"):
        removed.append("data after the end of the image")
    return CleanedFile(bytes(out), tuple(dict.fromkeys(removed)))


def _segment_kind(marker: int, payload: bytes) -> str:
    if marker == jpeg.APP0 and payload.startswith(_JFIF_SIGNATURE):
        return "keep"
    if marker == jpeg.APP0 + 2 and payload.startswith(_ICC_SIGNATURE):
        return "keep"
    if marker == jpeg.APP0 + 14 and payload.startswith(_ADOBE_SIGNATURE):
        return "keep"
    if marker == jpeg.APP0 + 1 and payload.startswith(_EXIF_SIGNATURE):
        return "exif"
    if marker == jpeg.APP0 + 1:
        return "XMP"
    if marker == jpeg.APP0 + 13:
        return "IPTC/Photoshop"
    if marker == jpeg.MARKER_COM:
        return "comments"
    if marker == jpeg.APP0 + 2 and payload.startswith(jpeg.MPF_SIGNATURE):
        return "multi-picture previews"
    return f"APP{marker - jpeg.APP0} metadata"


_PNG_DROPPED = {b"eXIf": "EXIF", b"tEXt": "text", b"zTXt": "text", b"iTXt": "text (XMP)"}


def _clean_png(data: bytes) -> CleanedFile:
    kept: list[bytes] = []
    removed: list[str] = []
    for chunk in png.iter_chunks(data):
        if chunk.kind in _PNG_DROPPED:
            removed.append(_PNG_DROPPED[chunk.kind])
        else:
            kept.append(chunk.to_bytes())
    return CleanedFile(png.SIGNATURE + b"".join(kept), tuple(dict.fromkeys(removed)))
