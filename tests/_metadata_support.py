"""Builders for metadata that carries previews (written here byte by byte), and an independent reader.

The reader is exiftool (Debian package libimage-exiftool-perl), which knows every one of these
containers; tests skip without it unless ``TRAPBLUR_REQUIRE_EXIFTOOL=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import detail_energy, jpeg_bytes, textured_pixels

REQUIRE_EXIFTOOL = os.environ.get("TRAPBLUR_REQUIRE_EXIFTOOL") == "1"


# ----------------------------------------------------------------------------------------------------------
# Pictures: a photograph and its previews, which show the "person" (fine detail) everywhere


def photo(width: int = 640, height: int = 480, seed: int = 3) -> Image.Image:
    return Image.fromarray(textured_pixels(width, height, seed))


def preview_jpeg(image: Image.Image, size: tuple[int, int] = (160, 120), quality: int = 85) -> bytes:
    return jpeg_bytes(image.resize(size), quality=quality)


def preview_png(image: Image.Image, size: tuple[int, int] = (160, 120)) -> bytes:
    buffer = io.BytesIO()
    image.resize(size).save(buffer, "PNG")
    return buffer.getvalue()


# The person box used by these tests, in normalised upright coordinates, and where it lands in a preview.
PERSON_BOX = (0.05, 0.1, 0.4, 0.8)


def person_region(width: int, height: int) -> tuple[slice, slice]:
    """The inside of PERSON_BOX (with a margin) in a picture of that size, as numpy slices."""
    x, y, w, h = PERSON_BOX
    return slice(int((y + 0.1 * h) * height), int((y + 0.9 * h) * height)), slice(int((x + 0.1 * w) * width), int((x + 0.9 * w) * width))


def assert_blurred_or_gone(before: bytes, after: bytes | None) -> str:
    """The preview was removed (absent, empty or zeros) or shows the person region blurred. Says which."""
    if not after or not after.strip(b"\x00"):
        return "gone"
    old = np.asarray(Image.open(io.BytesIO(before)).convert("L"))
    new = np.asarray(Image.open(io.BytesIO(after)).convert("L"))
    assert new.shape == old.shape, "a re-rendered preview keeps its size"
    region = person_region(old.shape[1], old.shape[0])
    assert detail_energy(new[region]) < 0.3 * detail_energy(old[region]), "the preview still shows the person"
    return "blurred"


# ----------------------------------------------------------------------------------------------------------
# JPEG segments


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def with_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """``jpeg`` with ``segments`` inserted after its existing metadata (before the first table)."""
    position = 2
    while jpeg[position + 1] >= 0xE0 and jpeg[position + 1] != 0xFF or jpeg[position + 1] == 0xFE:
        position += 2 + struct.unpack_from(">H", jpeg, position + 2)[0]
    return jpeg[:position] + b"".join(segments) + jpeg[position:]


XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
EXTENDED_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"


def xmp_packet(*descriptions: str, namespaces: str = "") -> bytes:
    body = "".join(descriptions)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" {namespaces}>'
        '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Site B, camera 7</rdf:li></rdf:Alt></dc:title>'
        f"{body}</rdf:Description></rdf:RDF></x:xmpmeta>\n"
        + " " * 200 + '\n<?xpacket end="w"?>'
    ).encode()


def b64_lines(data: bytes, width: int = 76, separator: str = "&#xA;") -> str:
    text = base64.b64encode(data).decode()
    return separator.join(text[i : i + width] for i in range(0, len(text), width))


def extended_xmp_segments(packet: bytes, chunk: int) -> tuple[bytes, list[bytes]]:
    """(GUID, the APP1 segments of ``packet`` as Extended XMP in chunks of ``chunk`` bytes)."""
    guid = hashlib.md5(packet).hexdigest().upper().encode()
    return guid, [
        segment(0xE1, EXTENDED_HEADER + guid + struct.pack(">II", len(packet), start) + packet[start : start + chunk])
        for start in range(0, len(packet), chunk)
    ]


def resource(identifier: int, data: bytes) -> bytes:
    """One Photoshop image resource (8BIM, empty name)."""
    return b"8BIM" + struct.pack(">H", identifier) + b"\x00\x00" + struct.pack(">I", len(data)) + data + b"\x00" * (len(data) % 2)


def photoshop_thumbnail(jpeg: bytes, width: int = 160, height: int = 120) -> bytes:
    """Resource 0x040C's payload: a 28-byte header, then the JFIF thumbnail."""
    return struct.pack(">IIIIIIHH", 1, width, height, (width * 24 + 31) // 32 * 4, 0, len(jpeg), 24, 1) + jpeg


def iptc(*datasets: tuple[int, int, bytes]) -> bytes:
    return b"".join(b"\x1c" + bytes((r, d)) + struct.pack(">H", len(v)) + v for r, d, v in datasets)


def photoshop_segments(stream: bytes, split_at: int) -> list[bytes]:
    header = b"Photoshop 3.0\x00"
    return [segment(0xED, header + stream[:split_at]), segment(0xED, header + stream[split_at:])]


# ----------------------------------------------------------------------------------------------------------
# EXIF (little-endian TIFF structures), built entry by entry


def tiff_structure(
    ifds: list[list[tuple[int, int, int, bytes]]], blob: bytes = b"", chain: tuple[int, ...] | None = None,
    order: str = "<",
) -> bytes:
    """A TIFF structure whose IFDs hold (tag, type, count, value) entries, written byte by byte.

    Values over 4 bytes are stored after the IFDs, then ``blob`` (thumbnails, strips, maker notes).
    Special values: ``b"@ifd:N"`` is the offset of IFD N (a sub-IFD), ``b"@blob:A,B"`` the offsets of
    bytes A, B... of ``blob``. ``chain`` lists the IFDs linked by next-IFD pointers (default: IFD 0 only).
    """
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1}
    chain = (0,) if chain is None else chain
    ifd_offsets, position = [], 8
    for entries in ifds:
        ifd_offsets.append(position)
        position += 2 + 12 * len(entries) + 4
    value_base = position
    def stored_size(kind: int, count: int, value: bytes) -> int:
        if value.startswith(b"@blob:"):
            offsets = len(value[6:].split(b","))
            return 4 * offsets if offsets > 1 else 0
        if value.startswith(b"@") or sizes[kind] * count <= 4:
            return 0
        return len(value) + len(value) % 2

    out_of_line = sum(stored_size(k, c, v) for entries in ifds for _, k, c, v in entries)
    blob_base = value_base + out_of_line
    values = bytearray()

    def field(kind: int, count: int, value: bytes) -> bytes:
        if value.startswith(b"@ifd:"):
            return struct.pack(order + "I", ifd_offsets[int(value[5:])])
        if value.startswith(b"@blob:"):
            offsets = [blob_base + int(n) for n in value[6:].split(b",")]
            packed = struct.pack(f"{order}{len(offsets)}I", *offsets)
            if len(offsets) == 1:
                return packed
            value = packed
        if sizes[kind] * count <= 4:
            return value.ljust(4, b"\x00")
        at = value_base + len(values)
        values.extend(value + b"\x00" * (len(value) % 2))
        return struct.pack(order + "I", at)

    out = bytearray((b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", ifd_offsets[0]))
    for index, entries in enumerate(ifds):
        out += struct.pack(order + "H", len(entries))
        for tag, kind, count, value in sorted(entries, key=lambda e: e[0]):
            out += struct.pack(order + "HHI", tag, kind, count) + field(kind, count, value)
        following = chain[chain.index(index) + 1] if index in chain and chain.index(index) + 1 < len(chain) else None
        out += struct.pack(order + "I", ifd_offsets[following] if following is not None else 0)
    assert len(out) + len(values) == blob_base, "internal error in the test's TIFF builder"
    return bytes(out + values + blob)


def short(value: int) -> bytes:
    return struct.pack("<H", value)


def long(value: int) -> bytes:
    return struct.pack("<I", value)


DATE = b"2024:05:01 06:12:30\x00"
ORIGINAL_DATE = b"2024:05:01 06:12:29\x00"
GPS_LATITUDE = struct.pack("<6I", 45, 1, 30, 1, 1550, 100)


def camera_ifds() -> list[list[tuple[int, int, int, bytes]]]:
    """IFD0 (make, date) -> ExifIFD (DateTimeOriginal), GPS (latitude): what must survive byte for byte."""
    return [
        [(0x010F, 2, 8, b"Reconyx\x00"), (0x0132, 2, len(DATE), DATE), (0x8769, 4, 1, b"@ifd:1"), (0x8825, 4, 1, b"@ifd:2")],
        [(0x9003, 2, len(ORIGINAL_DATE), ORIGINAL_DATE)],
        [(0x0001, 2, 2, b"N\x00"), (0x0002, 5, 3, GPS_LATITUDE)],
    ]


def exif_with_jpeg_thumbnail(thumbnail: bytes, declared_length: int | None = None) -> bytes:
    """EXIF (with the Exif header): IFD0 + ExifIFD + GPS, and IFD1 pointing at ``thumbnail``."""
    ifd1 = [(0x0103, 3, 1, short(6)), (0x0201, 4, 1, b"@blob:0"), (0x0202, 4, 1, long(declared_length or len(thumbnail)))]
    return b"Exif\x00\x00" + tiff_structure(camera_ifds() + [ifd1], thumbnail, chain=(0, 3))


def exif_with_strip_thumbnail(rgb: np.ndarray) -> bytes:
    """EXIF whose IFD1 is an uncompressed RGB thumbnail in two strips (Compression 1, TIFF-style)."""
    height, width = rgb.shape[:2]
    raw = rgb.astype(np.uint8).tobytes()
    half = (height // 2) * width * 3
    ifd1 = [
        (0x00FE, 4, 1, long(1)), (0x0100, 3, 1, short(width)), (0x0101, 3, 1, short(height)), (0x0102, 3, 3, short(8) * 3),
        (0x0103, 3, 1, short(1)), (0x0106, 3, 1, short(2)), (0x0111, 4, 2, f"@blob:0,{half}".encode()),
        (0x0115, 3, 1, short(3)), (0x0116, 3, 1, short(height // 2)), (0x0117, 4, 2, long(half) + long(len(raw) - half)),
    ]
    return b"Exif\x00\x00" + tiff_structure(camera_ifds() + [ifd1], raw, chain=(0, 3))


def exif_with_maker_note(note: bytes) -> bytes:
    """EXIF whose ExifIFD holds ``note`` as its MakerNote (cameras keep preview JPEGs there)."""
    ifds = camera_ifds()
    ifds[1].append((0x927C, 7, len(note), b"@blob:0"))
    return b"Exif\x00\x00" + tiff_structure(ifds, note)


# ----------------------------------------------------------------------------------------------------------
# PNG chunks


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def with_chunks(png: bytes, *chunks: bytes) -> bytes:
    """``png`` with ``chunks`` inserted right after IHDR."""
    ihdr_end = 8 + 12 + struct.unpack_from(">I", png, 8)[0]
    return png[:ihdr_end] + b"".join(chunks) + png[ihdr_end:]


def itxt(keyword: bytes, text: bytes, compressed: bool = False) -> bytes:
    body = zlib.compress(text) if compressed else text
    return png_chunk(b"iTXt", keyword + b"\x00" + (b"\x01\x00" if compressed else b"\x00\x00") + b"\x00\x00" + body)


def ztxt(keyword: bytes, text: bytes) -> bytes:
    return png_chunk(b"zTXt", keyword + b"\x00\x00" + zlib.compress(text))


def text_chunk(keyword: bytes, text: bytes) -> bytes:
    return png_chunk(b"tEXt", keyword + b"\x00" + text)


def raw_profile(name: str, data: bytes) -> bytes:
    """ImageMagick's "Raw profile type" text: type, length, hex in 72-digit lines."""
    digits = data.hex()
    lines = "".join("\n" + digits[i : i + 72] for i in range(0, len(digits), 72))
    return f"\n{name}\n{len(data):8d}\n{lines}\n".encode()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------------------
# exiftool, the independent reader


def exiftool_path() -> str:
    path = shutil.which("exiftool")
    if path is None:
        if REQUIRE_EXIFTOOL:
            pytest.fail("TRAPBLUR_REQUIRE_EXIFTOOL=1 but exiftool is not installed")
        pytest.skip("exiftool (libimage-exiftool-perl) is not installed")
    return path


def exiftool_tags(path: Path, *tags: str) -> dict:
    """exiftool's reading of ``path`` (all tags, grouped, numeric values), as a dict."""
    result = subprocess.run(
        [exiftool_path(), "-j", "-a", "-G1", "-n", "-q", *tags, str(path)],
        capture_output=True, check=True, text=True,
    )
    return json.loads(result.stdout)[0]


def exiftool_binary(path: Path, tag: str) -> bytes | None:
    """The binary value of ``tag`` (e.g. "ThumbnailImage", "XMP-GDepth:Data") as exiftool extracts it."""
    result = subprocess.run([exiftool_path(), "-b", "-q", "-" + tag, str(path)], capture_output=True, check=True)
    return result.stdout or None
