"""A blurred JPEG's metadata: which segments are kept, cleaned or removed, and the audit of the result.

Why this module exists
----------------------
trapblur keeps a JPEG's APPn and COM segments byte for byte (dates, camera settings, GPS, colour
profile, IPTC, comments), except where they hold a copy of the picture, which would still show the
person. Per kind of segment:

=====================  ==================================================================================
EXIF (APP1, APP3)      every IFD's thumbnail, strips or tiles overwritten in place (re-rendered from the
                       blurred image, or zeroed); JPEG previews in maker notes re-rendered in place. APP1
                       EXIF is recognised as exiftool reads it (any letter case of ``Exif\0``, any sixth
                       byte, up to 4 bytes before it), and EXIF continued in the following APP1 segments
                       (each ``Exif\0\0`` without a TIFF header) is cleaned as the one block it is
XMP (APP1)             thumbnails (any prefix of the xmpGImg namespace) and base64/hex images removed
Extended XMP (APP1)    reassembled from its chunks by GUID, cleaned like XMP, re-chunked under a new GUID
                       (the main packet's ``xmpNote:HasExtendedXMP`` follows); incomplete ones removed
Photoshop (APP13)      reassembled across segments; thumbnails (0x0409, 0x040C) and IPTC object previews
                       dropped, EXIF and XMP resources cleaned as above
JFIF/JFXX (APP0)       their thumbnail (raw RGB, palette or JPEG) re-rendered or zeroed
MPF, FlashPix (APP2)   removed: preview images (MPF's sit after the main image and are dropped with it)
JUMBF / C2PA (APP11)   removed: the edit breaks its signature, and it can hold thumbnails
ICC profile (APP2)     kept
comments, others       kept; JPEG previews in them re-rendered in place, base64 images in comments removed
=====================  ==================================================================================

Then :func:`audit` reads the finished file back, independently of how it was made, and raises
:class:`~trapblur.errors.PreviewError` for any image it still finds (in a segment, in the concatenation
of consecutive segments of one kind, in reassembled Photoshop and Extended XMP payloads) that the
renderer did not draw itself. The image is then withheld.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from os.path import commonprefix

from . import exif, photoshop, xmp
from .errors import ImageError, PreviewError
from .jpeg import APP0, MARKER_COM, JpegLayout, header_segments, looks_like_jpeg
from .previews import PreviewRenderer, check_blob, overwrite_embedded_images, remove_text_images

APP1, APP2, APP3, APP11, APP13 = APP0 + 1, APP0 + 2, APP0 + 3, APP0 + 11, APP0 + 13
XMP_SIGNATURE = b"http://ns.adobe.com/xap/1.0/\x00"
EXTENDED_XMP_SIGNATURE = b"http://ns.adobe.com/xmp/extension/\x00"
PHOTOSHOP_SIGNATURE = b"Photoshop 3.0\x00"
MPF_SIGNATURE = b"MPF\x00"
FLASHPIX_SIGNATURE = b"FPXR\x00"
ICC_SIGNATURE = b"ICC_PROFILE\x00"
_APP3_EXIF_SIGNATURES = (b"META\x00\x00", b"Meta\x00\x00", b"Exif\x00\x00")
# exiftool's test for APP1 EXIF (/^(.{0,4})Exif\0/is); its TIFF structure starts 6 bytes after "Exif".
_APP1_EXIF = re.compile(rb"\A(.{0,4})exif\x00.", re.DOTALL | re.IGNORECASE)
_EXIF_CONTINUATION = b"Exif\x00\x00"
_TIFF_HEADERS = (b"II*\x00", b"MM\x00*")
_EXTENDED_HEADER = len(EXTENDED_XMP_SIGNATURE) + 32 + 8  # signature, GUID, full length, offset
_EXTENDED_CHUNK = 65533 - _EXTENDED_HEADER
_PHOTOSHOP_CHUNK = 65533 - len(PHOTOSHOP_SIGNATURE)
# Per-segment headers of payloads that are split over consecutive segments.
_RUN_HEADERS = {"Extended XMP": _EXTENDED_HEADER, "Photoshop": len(PHOTOSHOP_SIGNATURE), "ICC profile": 14}
_MAX_HEADER = 32  # per-segment headers of unknown kinds are looked for up to this length
_REMOVED = {"MPF": "multi-picture (MPF) preview removed", "FlashPix": "FlashPix (FPXR) preview segment removed",
            "JUMBF": "C2PA/JUMBF segment removed (the edit breaks its signature; it can hold thumbnails)"}


def segment_kind(marker: int, payload: bytes) -> str:
    """What a metadata segment holds, from its marker and signature."""
    if marker == MARKER_COM:
        return "comment"
    if exif_header_length(marker, payload) is not None:
        return "EXIF"
    if marker == APP1 and payload.startswith(XMP_SIGNATURE):
        return "XMP"
    if marker == APP1 and payload.startswith(EXTENDED_XMP_SIGNATURE):
        return "Extended XMP"
    if marker == APP2 and payload.startswith(MPF_SIGNATURE):
        return "MPF"
    if marker == APP2 and payload.startswith(FLASHPIX_SIGNATURE):
        return "FlashPix"
    if marker == APP2 and payload.startswith(ICC_SIGNATURE):
        return "ICC profile"
    if marker == APP11:
        return "JUMBF"
    if marker == APP13 and payload.startswith(PHOTOSHOP_SIGNATURE):
        return "Photoshop"
    if marker == APP0 and payload[:5] in (b"JFIF\x00", b"JFXX\x00"):
        return payload[:4].decode()
    return "other"


def exif_header_length(marker: int, payload: bytes) -> int | None:
    """How many bytes precede the TIFF structure of an EXIF segment, or None when it is not one."""
    if marker == APP3:
        return 6 if payload.startswith(_APP3_EXIF_SIGNATURES) else None
    if marker == APP1:
        match = _APP1_EXIF.match(payload)
        return match.end() if match else None
    return None


def _exif_blocks(items: list) -> list[list]:
    """EXIF segments grouped into blocks: one EXIF segment, with the APP1 segments that continue it.

    exiftool joins an APP1 EXIF segment with the *next* ones that start ``Exif\0\0`` but hold no TIFF
    header (multi-segment EXIF): a thumbnail the first segment points to may lie in the second.
    """
    blocks: list[list] = []
    previous = None  # the item before this one, when it belongs to the last block
    for item in items:
        continues = (previous is not None and item.kind == "EXIF" and item.marker == APP1 == previous.marker
                     and item.payload.startswith(_EXIF_CONTINUATION)
                     and not item.payload.startswith(_TIFF_HEADERS, len(_EXIF_CONTINUATION)))
        if continues:
            blocks[-1].append(item)
        elif item.kind == "EXIF":
            blocks.append([item])
        previous = item if item.kind == "EXIF" else None
    return blocks


def _exif_data(block: list) -> tuple[bytes, list[int]]:
    """A block's TIFF structure joined from its segments, and each segment's header length."""
    headers = [exif_header_length(block[0].marker, block[0].payload) or 0] + [len(_EXIF_CONTINUATION)] * (len(block) - 1)
    return b"".join(item.payload[h:] for item, h in zip(block, headers)), headers


def _name(marker: int, kind: str) -> str:
    where = "COM" if marker == MARKER_COM else f"APP{marker - APP0}"
    return f"the {where} {kind} segment" if kind not in ("other", "comment") else f"the {where} segment"


def _segment(marker: int, payload: bytes) -> bytes:
    if len(payload) > 65533:
        raise ImageError("internal error: a cleaned metadata segment is too long for a JPEG")
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


@dataclass(frozen=True)
class SanitisedMetadata:
    segments: tuple[bytes, ...]
    notes: tuple[str, ...]


@dataclass
class _Item:
    marker: int
    payload: bytes
    kind: str
    replacement: list[bytes] | None = None  # whole segments to write instead; [] drops it


def sanitise_metadata(data: bytes, layout: JpegLayout, renderer: PreviewRenderer) -> SanitisedMetadata:
    """The original's metadata segments, with every embedded image re-rendered or removed."""
    items = []
    for segment in layout.metadata_segments:
        payload = data[segment.start + 4 : segment.end]
        items.append(_Item(segment.marker, payload, segment_kind(segment.marker, payload)))
    notes: list[str] = []
    for item in items:
        if item.kind in _REMOVED:
            item.replacement = []
            notes.append(_REMOVED[item.kind])
    guids = _clean_extended_xmp(items, notes)
    _clean_photoshop(items, renderer, notes)
    for block in _exif_blocks(items):
        joined, headers = _exif_data(block)
        cleaned = exif.sanitise_exif(joined, renderer)  # same length: split back where it was joined
        notes.extend(cleaned.notes)
        position = 0
        for item, header in zip(block, headers):
            size = len(item.payload) - header
            item.replacement = [_segment(item.marker, item.payload[:header] + cleaned.data[position : position + size])]
            position += size
    for item in items:
        if item.replacement is not None:
            continue
        if item.kind == "XMP":
            packet = item.payload[len(XMP_SIGNATURE) :]
            cleaned_xmp = xmp.clean_xmp(packet)
            packet = cleaned_xmp.packet
            for old, new in guids.items():
                packet = packet.replace(old, new)
            notes.extend(cleaned_xmp.notes)
            item.replacement = [_segment(item.marker, XMP_SIGNATURE + packet)]
        elif item.kind == "comment":
            text, count = remove_text_images(item.payload)
            buffer = bytearray(text)
            count += overwrite_embedded_images(buffer, renderer)
            if count:
                notes.append("image in a JPEG comment re-rendered or removed")
            item.replacement = [_segment(item.marker, bytes(buffer))]
        elif item.kind == "other" and any(tag in item.payload[:4096] for tag in (b"<x:xmpmeta", b"<?xpacket", b"<rdf:RDF")):
            cleaned_xmp = xmp.clean_xmp(item.payload)  # XMP under another signature (old Adobe, vendors)
            if cleaned_xmp.notes:
                notes.extend(f"{n} ({_name(item.marker, 'other')})" for n in cleaned_xmp.notes)
                item.replacement = [_segment(item.marker, cleaned_xmp.packet)]
        elif item.kind in ("JFIF", "JFXX"):
            payload, note = _clean_jfif(item.payload, renderer)
            notes.extend([note] if note else [])
            item.replacement = [_segment(item.marker, payload)]
    _clean_other_runs(items, renderer, notes)
    if data[layout.end :].strip(b"\x00"):  # MPF previews, "motion photo" videos, gain maps...
        notes.append("data after the end of the image removed")
    segments: list[bytes] = []
    for item in items:
        segments.extend(item.replacement if item.replacement is not None else [_segment(item.marker, item.payload)])
    return SanitisedMetadata(tuple(segments), tuple(dict.fromkeys(notes)))


def _clean_extended_xmp(items: list[_Item], notes: list[str]) -> dict[bytes, bytes]:
    """Clean each Extended XMP (by GUID); returns the GUIDs that changed, old -> new."""
    groups: dict[bytes, list[_Item]] = {}
    for item in items:
        if item.kind == "Extended XMP":
            groups.setdefault(item.payload[35:67], []).append(item)
    renamed = {}
    for guid, group in groups.items():
        for item in group:
            item.replacement = []
        packet = _reassemble_extended(group)
        if packet is None:
            notes.append("incomplete Extended XMP removed")
            continue
        cleaned = xmp.clean_xmp(packet)
        if not cleaned.notes:
            for item in group:
                item.replacement = None  # kept byte for byte
            continue
        notes.extend(f"{n} (Extended XMP)" for n in cleaned.notes)
        new_guid = hashlib.md5(cleaned.packet).hexdigest().upper().encode()
        renamed[guid] = new_guid
        group[0].replacement = [
            _segment(APP1, EXTENDED_XMP_SIGNATURE + new_guid + struct.pack(">II", len(cleaned.packet), start)
                     + cleaned.packet[start : start + _EXTENDED_CHUNK])
            for start in range(0, len(cleaned.packet), _EXTENDED_CHUNK)
        ]
    return renamed


def _reassemble_extended(group: list[_Item]) -> bytes | None:
    chunks = []
    for item in group:
        if len(item.payload) < _EXTENDED_HEADER:
            return None
        full, offset = struct.unpack_from(">II", item.payload, 67)
        chunks.append((offset, full, item.payload[_EXTENDED_HEADER:]))
    if len({full for _, full, _ in chunks}) != 1:
        return None
    packet = bytearray()
    for offset, full, chunk in sorted(chunks, key=lambda c: c[0]):
        if offset != len(packet):
            return None
        packet += chunk
    return bytes(packet) if len(packet) == chunks[0][1] else None


def _clean_photoshop(items: list[_Item], renderer: PreviewRenderer, notes: list[str]) -> None:
    group = [item for item in items if item.kind == "Photoshop"]
    if not group:
        return
    stream = b"".join(item.payload[len(PHOTOSHOP_SIGNATURE) :] for item in group)
    cleaned = photoshop.clean_resources(stream, renderer)
    if not cleaned.notes:
        return
    notes.extend(cleaned.notes)
    for item in group:
        item.replacement = []
    group[0].replacement = [
        _segment(APP13, PHOTOSHOP_SIGNATURE + cleaned.stream[start : start + _PHOTOSHOP_CHUNK])
        for start in range(0, len(cleaned.stream), _PHOTOSHOP_CHUNK)
    ]


def _clean_jfif(payload: bytes, renderer: PreviewRenderer) -> tuple[bytes, str]:
    """A JFIF/JFXX APP0 payload with its thumbnail re-rendered (raw RGB, JPEG) or zeroed (palette)."""
    out = bytearray(payload)
    if payload.startswith(b"JFIF\x00") and len(payload) >= 14:
        width, height = payload[12], payload[13]
        if width and height:
            out[14:] = renderer.raw(width, height, 3)[: len(payload) - 14].ljust(len(payload) - 14, b"\0")
            return bytes(out), "JFIF thumbnail re-rendered from the blurred image"
        return payload, ""
    if payload.startswith(b"JFXX\x00") and len(payload) >= 6:
        code = payload[5]
        if code == 0x10 and overwrite_embedded_images(out, renderer, start=6):
            pass  # a JPEG thumbnail, re-rendered in place
        elif code == 0x13 and len(payload) >= 8:
            out[8:] = renderer.raw(payload[6], payload[7], 3)[: len(payload) - 8].ljust(len(payload) - 8, b"\0")
        else:
            out[6:] = bytes(len(payload) - 6)
        return bytes(out), "JFXX thumbnail re-rendered or removed"
    return payload, ""


def _runs(items: list, key) -> list[list]:
    """Consecutive items sharing ``key(item)`` (a payload split over several segments), in order."""
    runs: list[list] = []
    for item in items:
        if runs and key(runs[-1][-1]) == key(item):
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _run_header(kind: str, payloads: list[bytes]) -> int:
    """How many leading bytes of each payload in a run are a per-segment header, not split content."""
    if kind in _RUN_HEADERS:
        return _RUN_HEADERS[kind]
    return len(commonprefix([p[:_MAX_HEADER] for p in payloads])) if len(payloads) > 1 else 0


def _clean_other_runs(items: list[_Item], renderer: PreviewRenderer, notes: list[str]) -> None:
    """Unknown segments: re-render JPEG previews in place, across consecutive segments of one kind."""
    pending = [item for item in items if item.replacement is None and item.kind == "other"]
    for run in _runs(pending, lambda item: item.marker):
        header = _run_header("other", [item.payload for item in run])
        joined = bytearray(b"".join(item.payload[header:] for item in run))
        if not overwrite_embedded_images(joined, renderer):
            continue
        notes.append(f"embedded preview in {_name(run[0].marker, 'other')} re-rendered or removed")
        position = 0
        for item in run:
            size = len(item.payload) - header
            item.replacement = [_segment(item.marker, item.payload[:header] + bytes(joined[position : position + size]))]
            position += size


# ----------------------------------------------------------------------------------------------------------
# The audit

_SOI = b"\xff\xd8\xff"
_XML_KINDS = ("XMP", "Extended XMP", "comment")  # text: a TIFF header in it would be an embedded image
_TEXT_KINDS = _XML_KINDS + ("other",)  # may hold base64 (an unknown segment can be text too)


def _check_boundaries(label: str, payloads: list[bytes], rendered: list[bytes]) -> None:
    """Refuse a JPEG that may continue from one segment into the next under a header of unknown length.

    The joined payloads catch the usual case; this catches a split inside the start-of-image marker, or a
    first marker segment running over the end of its segment, whatever the per-segment header is.
    """
    for current, following in zip(payloads, payloads[1:]):
        for cut in (1, 2, 3):
            if not current.endswith(_SOI[:cut]):
                continue
            for header in range(_MAX_HEADER + 1):
                window = current[-cut:] + following[header : header + 4096]
                if looks_like_jpeg(window, 0, if_cut=True) and not any(window.startswith(r[: len(window)]) for r in rendered):
                    raise PreviewError(f"{label} may hold a JPEG split across segments, which cannot be checked: not written")
        position = current.find(_SOI)
        while position >= 0:
            if looks_like_jpeg(current, position, if_cut=True) and not looks_like_jpeg(current, position) and not any(
                current.startswith(r[: len(current) - position], position) for r in rendered
            ):
                raise PreviewError(f"{label} may hold a JPEG split across segments, which cannot be checked: not written")
            position = current.find(_SOI, position + 1)


def audit(output: bytes, rendered: list[bytes]) -> None:
    """Raise :class:`PreviewError` if the finished JPEG ``output`` still carries an image we did not draw.

    It reads the segments before the first scan, where :func:`~trapblur.jpeg.replace_metadata` puts all
    the metadata (and it ends the file at the image's own end-of-image marker, so nothing trails it).
    """
    items = []
    for segment in header_segments(output):
        if APP0 <= segment.marker <= APP0 + 15 or segment.marker == MARKER_COM:
            payload = output[segment.start + 4 : segment.end]
            items.append(_Item(segment.marker, payload, segment_kind(segment.marker, payload)))
    for item in items:
        label = _name(item.marker, item.kind)
        if item.kind in _REMOVED:
            raise PreviewError(f"{label} could not be removed: not written")
        check_blob(label, item.payload, rendered, text=item.kind in _TEXT_KINDS, tiff_headers=item.kind in _XML_KINDS)
        if item.kind == "JFIF" and len(item.payload) > 14 and item.payload[14:].strip(b"\0"):
            if not any(item.payload[14:] == r[: len(item.payload) - 14] for r in rendered):
                raise PreviewError(f"{label} still holds its thumbnail: not written")
    for block in _exif_blocks(items):
        leaks = exif.unrendered_image_data(_exif_data(block)[0], rendered)
        if leaks:
            label = _name(block[0].marker, "EXIF") + ("s, joined" if len(block) > 1 else "")
            raise PreviewError(f"{label} still holds the {leaks[0]}, not re-rendered or removed: not written")
    for run in _runs(items, lambda item: (item.marker, item.kind)):
        if len(run) < 2:
            continue
        # A payload split over segments: each segment was checked alone above; now the concatenation
        # without the per-segment headers (known, or as long as they are alike), and the boundaries.
        payloads = [item.payload for item in run]
        header = _run_header(run[0].kind, payloads)
        label = _name(run[0].marker, run[0].kind) + "s, joined"
        check_blob(label, b"".join(p[header:] for p in payloads), rendered, tiff_headers=run[0].kind in _XML_KINDS)
        _check_boundaries(_name(run[0].marker, run[0].kind) + "s", payloads, rendered)
    photoshop_stream = b"".join(i.payload[len(PHOTOSHOP_SIGNATURE) :] for i in items if i.kind == "Photoshop")
    if photoshop_stream:
        photoshop.check_resources("the APP13 Photoshop segments", photoshop_stream, rendered)
    extended = [item for item in items if item.kind == "Extended XMP"]
    for guid_run in _runs(sorted(extended, key=lambda i: i.payload[35:75]), lambda i: i.payload[35:67]):
        packet = _reassemble_extended(guid_run)
        if packet is not None:
            check_blob("the Extended XMP (reassembled)", packet, rendered, text=True, tiff_headers=True)

