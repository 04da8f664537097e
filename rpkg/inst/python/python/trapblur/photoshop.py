"""Photoshop image resources (8BIM) and IPTC-IIM records: drop the previews, keep the rest.

Why this module exists
----------------------
Photoshop keeps its metadata as a stream of "image resources" (in a JPEG's APP13 segments, possibly
split across several; in TIFF tag 34377; in PNG "Raw profile type 8bim"). Two of them are thumbnails
(0x0409, 0x040C) and are dropped. Others hold EXIF (0x0422, 0x0423) or XMP (0x0424), cleaned with the
same cleaners as everywhere else. IPTC (0x0404) is IIM records: dataset 2:202 is an "object preview" and
records 7-9 carry the object itself; they are dropped, and the IPTC digest (0x0425) recomputed so that
readers do not flag the IPTC as edited behind their back. Any other resource carrying an image is
re-rendered in place (JPEG) or dropped.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from . import xmp
from .errors import PreviewError
from .exif import sanitise_exif, strip_exif_header, unrendered_image_data
from .previews import PreviewRenderer, check_blob, overwrite_embedded_images, unrendered_images

THUMBNAIL_RESOURCES = {0x0409: "Photoshop thumbnail", 0x040C: "Photoshop thumbnail"}
IPTC_RESOURCE, IPTC_DIGEST = 0x0404, 0x0425
EXIF_RESOURCES = (0x0422, 0x0423)
XMP_RESOURCE = 0x0424
_SIGNATURES = (b"8BIM", b"PHUT", b"AgHg", b"DCSR", b"MeSa")
# IIM datasets that hold images: the object preview (2:200-202) and the pre-object/object records.
_IIM_PREVIEW_DATASETS = {(2, 200), (2, 201), (2, 202)}
_IIM_OBJECT_RECORDS = {7, 8, 9}


@dataclass(frozen=True)
class Resource:
    signature: bytes
    identifier: int
    name: bytes  # the Pascal string as stored, padding included
    data: bytes

    def to_bytes(self) -> bytes:
        padding = b"\x00" if len(self.data) % 2 else b""
        return self.signature + struct.pack(">H", self.identifier) + self.name + struct.pack(">I", len(self.data)) + self.data + padding


def parse_resources(stream: bytes) -> tuple[list[Resource], bytes]:
    """The resources in ``stream`` and whatever trails them (padding, or bytes that are not resources)."""
    resources = []
    position = 0
    while position + 12 <= len(stream) and stream[position : position + 4] in _SIGNATURES:
        identifier = struct.unpack_from(">H", stream, position + 4)[0]
        name_length = stream[position + 6]
        name_size = name_length + 1 + ((name_length + 1) % 2)
        size_at = position + 6 + name_size
        if size_at + 4 > len(stream):
            break
        (size,) = struct.unpack_from(">I", stream, size_at)
        data_at = size_at + 4
        if data_at + size > len(stream):
            break
        resources.append(Resource(stream[position : position + 4], identifier, stream[position + 6 : size_at], stream[data_at : data_at + size]))
        position = data_at + size + size % 2
    return resources, stream[position:]


@dataclass(frozen=True)
class CleanedResources:
    stream: bytes
    notes: tuple[str, ...]


def clean_resources(stream: bytes, renderer: PreviewRenderer) -> CleanedResources:
    """``stream`` without thumbnails and preview images; unchanged (the same object) when it holds none."""
    resources, tail = parse_resources(stream)
    notes: list[str] = []
    kept: list[Resource] = []
    iptc_changed = False
    for resource in resources:
        identifier = resource.identifier
        if identifier in THUMBNAIL_RESOURCES:
            notes.append("Photoshop thumbnail removed")
            continue
        data = resource.data
        if identifier in EXIF_RESOURCES:
            header, tiff = strip_exif_header(data)
            cleaned = sanitise_exif(tiff, renderer)
            data = header + cleaned.data
            notes.extend(f"{n} (Photoshop EXIF resource)" for n in cleaned.notes)
        elif identifier == XMP_RESOURCE:
            cleaned_xmp = xmp.clean_xmp(data)
            data = cleaned_xmp.packet
            notes.extend(f"{n} (Photoshop XMP resource)" for n in cleaned_xmp.notes)
        elif identifier == IPTC_RESOURCE:
            data, found = clean_iim(data)
            iptc_changed = data != resource.data
            notes.extend(found)
        else:
            buffer = bytearray(data)
            if overwrite_embedded_images(buffer, renderer):
                notes.append(f"preview in Photoshop resource 0x{identifier:04X} re-rendered or removed")
                data = bytes(buffer)
            if unrendered_images(data, renderer.rendered):
                notes.append(f"Photoshop resource 0x{identifier:04X} holding an image removed")
                continue
        kept.append(Resource(resource.signature, identifier, resource.name, data))
    if iptc_changed:
        iptc = next((r.data for r in kept if r.identifier == IPTC_RESOURCE), b"")
        kept = [
            Resource(r.signature, r.identifier, r.name, hashlib.md5(iptc).digest()) if r.identifier == IPTC_DIGEST else r
            for r in kept
        ]
    if tail.strip(b"\x00"):  # bytes that are not resources: still no preview may pass
        buffer = bytearray(tail)
        if overwrite_embedded_images(buffer, renderer):
            notes.append("preview after the Photoshop resources re-rendered or removed")
            tail = bytes(buffer)
    if not notes:
        return CleanedResources(stream, ())
    return CleanedResources(b"".join(r.to_bytes() for r in kept) + tail, tuple(dict.fromkeys(notes)))


def clean_iim(data: bytes) -> tuple[bytes, tuple[str, ...]]:
    """IPTC-IIM ``data`` without the object preview (2:200-202) and object records (7-9)."""
    kept = bytearray()
    dropped = 0
    position = 0
    while position + 5 <= len(data) and data[position] == 0x1C:
        record, dataset = data[position + 1], data[position + 2]
        (size,) = struct.unpack_from(">H", data, position + 3)
        header = 5
        if size & 0x8000:  # extended dataset: the next (size & 0x7FFF) bytes give the length
            width = size & 0x7FFF
            if width > 8 or position + 5 + width > len(data):
                break
            size = int.from_bytes(data[position + 5 : position + 5 + width], "big")
            header += width
        end = position + header + size
        if end > len(data):
            break
        if (record, dataset) in _IIM_PREVIEW_DATASETS or record in _IIM_OBJECT_RECORDS:
            dropped += 1
        else:
            kept += data[position:end]
        position = end
    if not dropped:
        return data, ()
    return bytes(kept) + data[position:], ("IPTC object preview removed",)


def iim_has_preview(data: bytes) -> bool:
    return clean_iim(data)[0] != data


def check_resources(label: str, stream: bytes, rendered: list[bytes]) -> None:
    """Audit: raise :class:`PreviewError` if ``stream`` still holds a thumbnail or an image not rendered by us."""
    resources, tail = parse_resources(stream)
    for resource in resources:
        where = f"{label} (resource 0x{resource.identifier:04X})"
        if resource.identifier in THUMBNAIL_RESOURCES:
            raise PreviewError(f"{where} still holds a Photoshop thumbnail: not written")
        if resource.identifier == IPTC_RESOURCE and iim_has_preview(resource.data):
            raise PreviewError(f"{where} still holds an IPTC object preview: not written")
        if resource.identifier in EXIF_RESOURCES:
            leaks = unrendered_image_data(strip_exif_header(resource.data)[1], rendered)
            if leaks:
                raise PreviewError(f"{where} still holds the {leaks[0]}: not written")
        check_blob(where, resource.data, rendered, text=resource.identifier == XMP_RESOURCE)
    check_blob(label, tail, rendered)
