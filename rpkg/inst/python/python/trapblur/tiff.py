"""TIFF output: the blurred pixels (encoded by Pillow) under the original's metadata, written by us.

Why this module exists
----------------------
Pillow re-serialises TIFF tags itself and gets some wrong: it loses the EXIF and GPS sub-IFDs (so the
date the picture was taken), mangles IPTC written as LONG (the common way), fails outright on an LZW
TIFF with IPTC ("Incorrect tag value type"), and prints warnings about tag types on stderr. So Pillow only
encodes the pixels (with the original's compression), and this module writes the file's one IFD:

* the pixel layout tags (size, samples, compression, strips...) from Pillow's output;
* the original's descriptive tags (:data:`DESCRIPTIVE_TAGS`: description, make, model, dates, artist,
  copyright, resolution, ICC profile, orientation...) with their values byte for byte (converted to the
  output's byte order where it differs);
* its EXIF sub-IFD (DateTimeOriginal and the other camera settings, with its interoperability IFD) and
  GPS sub-IFD, entry for entry; JPEG previews in a maker note re-rendered in place;
* XMP (700) with thumbnails and embedded images removed, IPTC (33723) without its object preview,
  Photoshop resources (34377) without thumbnails (see :mod:`.xmp`, :mod:`.photoshop`).

Not kept, because they are or may be copies of the picture: further pages and thumbnails (IFD1...),
SubIFDs (330, reduced-resolution images), and any tag not listed (Photoshop layer data 37724 holds the
whole unblurred picture, for one). :func:`audit` then checks the finished file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from . import exif, photoshop, xmp
from .errors import ImageError, PreviewError
from .exif import Entry, TiffLayout
from .previews import PreviewRenderer, check_blob, overwrite_embedded_images, remove_text_images

XMP_TAG, IPTC_TAG, PHOTOSHOP_TAG, ICC_TAG = 700, 33723, 34377, 34675
STRIP_OFFSETS, STRIP_BYTE_COUNTS, TILE_OFFSETS, TILE_BYTE_COUNTS = 273, 279, 324, 325
MAKER_NOTE = 0x927C
# How the pixels are laid out: taken from Pillow's encoding of the blurred image.
LAYOUT_TAGS = {254, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 320, 322, 323, 324, 325, 338, 339,
               340, 341, 347, 530, 531, 532}
# What the photograph is: copied from the original.
DESCRIPTIVE_TAGS = {
    269, 270, 271, 272, 274, 282, 283, 285, 296, 305, 306, 315, 316, 318, 319, 33432, 18246, 18249,
    40091, 40092, 40093, 40094, 40095, XMP_TAG, IPTC_TAG, PHOTOSHOP_TAG, ICC_TAG,
}
SUB_IFD_TAGS = {exif.EXIF_IFD: "ExifIFD", exif.GPS_IFD: "GPS"}
_IMAGE_DATA_TAGS = {STRIP_OFFSETS, STRIP_BYTE_COUNTS, TILE_OFFSETS, TILE_BYTE_COUNTS, exif.JPEG_OFFSET, exif.JPEG_LENGTH}
# Bytes per unit that flips with the byte order, per field type (a RATIONAL is two LONGs).
_UNIT = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 1, 7: 1, 8: 2, 9: 4, 10: 4, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}


@dataclass
class _Field:
    tag: int
    type: int
    count: int
    data: bytes = b""  # the value, in the output's byte order
    sub: "_Directory | None" = None  # a pointer to a sub-IFD written with the file


@dataclass
class _Directory:
    fields: list[_Field]


@dataclass(frozen=True)
class RebuiltTiff:
    data: bytes
    notes: tuple[str, ...]


def rebuild(original: bytes, encoded: bytes, renderer: PreviewRenderer) -> RebuiltTiff:
    """``encoded`` (Pillow's TIFF of the blurred pixels) with the original's metadata, previews removed."""
    try:
        source, target = exif.parse_tiff(original), exif.parse_tiff(encoded)
    except (ValueError, struct.error) as exc:
        raise ImageError(f"cannot read the TIFF structure ({exc})") from None
    notes: list[str] = []
    ifd0 = source.ifds[0] if source.ifds and source.ifds[0].name == "IFD0" else None
    if ifd0 is None or not target.ifds:
        raise ImageError("cannot read the TIFF structure (no first image directory)")
    if any(ifd.name.startswith("IFD") and ifd.name != "IFD0" for ifd in source.ifds):
        notes.append("only the first page of the TIFF was kept (other pages and thumbnails are not)")
    order = target.order
    fields = [_copy(encoded, order, order, e) for e in target.ifds[0].entries if e.tag in LAYOUT_TAGS]
    dropped = []
    for entry in ifd0.entries:
        if entry.tag in LAYOUT_TAGS:
            continue
        if entry.tag in SUB_IFD_TAGS:
            sub = _sub_ifd(original, source, entry, order, renderer, notes)
            if sub is not None:
                fields.append(_Field(entry.tag, 4, 1, sub=sub))
        elif entry.tag in DESCRIPTIVE_TAGS:
            if entry.value_offset + entry.size > len(original):
                notes.append(f"unreadable TIFF tag {entry.tag} not kept (its value lies outside the file)")
                continue
            fields.append(_descriptive(original, source.order, order, entry, renderer, notes))
        elif entry.tag == exif.SUB_IFDS:
            notes.append("TIFF SubIFDs (reduced-resolution copies of the picture) not kept")
        else:
            dropped.append(entry.tag)
    if dropped:
        notes.append("TIFF tags not kept (not known to be free of image data): " + ", ".join(map(str, sorted(dropped))))
    strips = _image_data(encoded, target)
    return RebuiltTiff(_write(order, _Directory(fields), strips), tuple(dict.fromkeys(notes)))


def _copy(data: bytes, source_order: str, order: str, entry: Entry) -> _Field:
    value = exif.value_bytes(data, entry)
    if len(value) != entry.size:
        raise ImageError(f"cannot read TIFF tag {entry.tag}: its value lies outside the file")
    return _Field(entry.tag, entry.type, entry.count, _swap(value, entry.type) if source_order != order else value)


def _swap(value: bytes, kind: int) -> bytes:
    unit = _UNIT.get(kind, 1)
    if unit == 1:
        return value
    return b"".join(value[i : i + unit][::-1] for i in range(0, len(value), unit))


def _descriptive(data: bytes, source_order: str, order: str, entry: Entry, renderer: PreviewRenderer,
                 notes: list[str]) -> _Field:
    if entry.tag not in (XMP_TAG, IPTC_TAG, PHOTOSHOP_TAG):
        return _without_text_images(_copy(data, source_order, order, entry), "IFD0", notes)
    # XMP, IPTC and Photoshop resources are byte streams whatever type the writer declared (IPTC is
    # often LONG): never byte-swapped, and cleaned like the same payloads in a JPEG.
    raw = exif.value_bytes(data, entry)
    if entry.tag == XMP_TAG:
        cleaned_xmp = xmp.clean_xmp(raw)
        value, found = cleaned_xmp.packet, cleaned_xmp.notes
    elif entry.tag == IPTC_TAG:
        value, found = photoshop.clean_iim(raw)
    else:
        cleaned = photoshop.clean_resources(raw, renderer)
        value, found = cleaned.stream, cleaned.notes
    notes.extend(f"{n} (TIFF tag {entry.tag})" for n in found)
    if value == raw and (_UNIT.get(entry.type, 1) == 1 or source_order == order):
        return _Field(entry.tag, entry.type, entry.count, raw)
    return _Field(entry.tag, 7, len(value), value)


def _without_text_images(field: _Field, where: str, notes: list[str]) -> _Field:
    """A text field (ASCII, or EXIF's UserComment) without base64/hex images in it."""
    if field.type != 2 and field.tag != exif.USER_COMMENT:
        return field
    text, count = remove_text_images(field.data)
    if not count:
        return field
    notes.append(f"base64 image in TIFF tag {field.tag} ({where}) removed")
    return _Field(field.tag, field.type, len(text), text)


def _sub_ifd(data: bytes, layout: TiffLayout, entry: Entry, order: str, renderer: PreviewRenderer,
             notes: list[str]) -> _Directory | None:
    """The EXIF or GPS sub-IFD (and EXIF's interoperability IFD) that ``entry`` points to, copied."""
    offsets = exif.read_integers(data, layout.order, entry)
    ifd = next((i for i in layout.ifds if offsets and i.offset == offsets[0]), None)
    if ifd is None:
        notes.append(f"TIFF {SUB_IFD_TAGS[entry.tag]} not kept: it cannot be read")
        return None
    fields = []
    for sub_entry in ifd.entries:
        if sub_entry.tag in _IMAGE_DATA_TAGS or sub_entry.tag == exif.SUB_IFDS:
            notes.append(f"image data in the TIFF {ifd.name} not kept")
            continue
        if sub_entry.tag == exif.INTEROP_IFD:
            inner = _sub_ifd_at(data, layout, sub_entry, order)
            if inner is not None:
                fields.append(_Field(sub_entry.tag, 4, 1, sub=inner))
            continue
        try:
            field = _copy(data, layout.order, order, sub_entry)
        except ImageError:
            notes.append(f"unreadable tag {sub_entry.tag} of the TIFF {ifd.name} not kept")
            continue
        field = _without_text_images(field, ifd.name, notes)
        if sub_entry.tag == MAKER_NOTE:
            buffer = bytearray(exif.value_bytes(data, sub_entry))  # opaque: never byte-swapped
            if overwrite_embedded_images(buffer, renderer):
                notes.append("preview in the TIFF's EXIF maker note re-rendered or removed")
            field = _Field(sub_entry.tag, sub_entry.type, sub_entry.count, bytes(buffer))
        fields.append(field)
    return _Directory(fields)


def _sub_ifd_at(data: bytes, layout: TiffLayout, entry: Entry, order: str) -> _Directory | None:
    offsets = exif.read_integers(data, layout.order, entry)
    ifd = next((i for i in layout.ifds if offsets and i.offset == offsets[0]), None)
    if ifd is None:
        return None
    fields = []
    for sub_entry in ifd.entries:
        if sub_entry.tag in exif.POINTER_TAGS or sub_entry.tag in _IMAGE_DATA_TAGS:
            continue
        try:
            fields.append(_copy(data, layout.order, order, sub_entry))
        except ImageError:
            continue
    return _Directory(fields)


def _image_data(encoded: bytes, layout: TiffLayout) -> tuple[int, list[bytes]]:
    """(the offsets tag, the strips or tiles) of Pillow's encoding."""
    ifd0 = layout.ifds[0]
    for offsets_tag, counts_tag in ((STRIP_OFFSETS, STRIP_BYTE_COUNTS), (TILE_OFFSETS, TILE_BYTE_COUNTS)):
        starts = exif.read_integers(encoded, layout.order, ifd0.get(offsets_tag))
        counts = exif.read_integers(encoded, layout.order, ifd0.get(counts_tag))
        if starts and len(starts) == len(counts):
            pieces = [encoded[s : s + c] for s, c in zip(starts, counts)]
            if any(len(p) != c for p, c in zip(pieces, counts)):
                break
            return offsets_tag, pieces
    raise ImageError("internal error: the TIFF encoder wrote no readable image data")


def _write(order: str, root: _Directory, image: tuple[int, list[bytes]]) -> bytes:
    """A classic TIFF: header, the IFDs, their values, then the image data, each at an even offset."""
    offsets_tag, pieces = image
    directories: list[_Directory] = []

    def collect(directory: _Directory) -> None:
        directories.append(directory)
        for f in directory.fields:
            if f.sub is not None:
                collect(f.sub)

    collect(root)
    position = 8
    places = {}
    for directory in directories:
        directory.fields.sort(key=lambda f: f.tag)
        places[id(directory)] = position
        position += 2 + 12 * len(directory.fields) + 4
    value_places = {}
    for directory in directories:
        for f in directory.fields:
            if f.sub is None and len(f.data) > 4 and f.tag != offsets_tag:
                position += position % 2
                value_places[id(f)] = position
                position += len(f.data)
    offsets_field = next(f for f in root.fields if f.tag == offsets_tag)
    offsets_field.type, offsets_field.count = 4, len(pieces)
    if len(pieces) > 1:
        position += position % 2
        value_places[id(offsets_field)] = position
        position += 4 * len(pieces)
    piece_places = []
    for piece in pieces:
        position += position % 2
        piece_places.append(position)
        position += len(piece)
    if position >= 1 << 32:
        raise ImageError("the TIFF would be larger than 4 GB, which classic TIFF cannot hold")
    offsets_field.data = struct.pack(f"{order}{len(pieces)}I", *piece_places)

    out = bytearray(position)
    out[0:8] = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8)
    for directory in directories:
        at = places[id(directory)]
        out[at : at + 2] = struct.pack(order + "H", len(directory.fields))
        for index, f in enumerate(directory.fields):
            entry_at = at + 2 + 12 * index
            if f.sub is not None:
                value = struct.pack(order + "I", places[id(f.sub)])
            elif id(f) in value_places:
                value = struct.pack(order + "I", value_places[id(f)])
                out[value_places[id(f)] : value_places[id(f)] + len(f.data)] = f.data
            else:
                value = f.data.ljust(4, b"\x00")
            out[entry_at : entry_at + 12] = struct.pack(order + "HHI", f.tag, f.type, f.count) + value
        # next-IFD offset stays 0: one image only
    for place, piece in zip(piece_places, pieces):
        out[place : place + len(piece)] = piece
    return bytes(out)


def further_pages(stream: BinaryIO, limit: int = 64) -> int:
    """How many pictures the TIFF in ``stream`` holds after its first page, not counting those marked
    reduced-resolution (NewSubfileType bit 0: thumbnails of a page). Reads IFD headers only; a broken
    chain ends the count."""
    stream.seek(0)
    head = stream.read(8)
    order = "<" if head[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", head[4:8])
    pages, seen = 0, {offset}
    for index in range(limit):
        stream.seek(offset)
        raw = stream.read(2)
        if len(raw) < 2:
            break
        (count,) = struct.unpack(order + "H", raw)
        entries = stream.read(12 * count + 4)
        if len(entries) < 12 * count + 4:
            break
        if index:
            subfile = 0
            for position in range(0, 12 * count, 12):
                tag, kind, number = struct.unpack_from(order + "HHI", entries, position)
                if tag == 254 and number == 1 and kind in (3, 4):
                    subfile = struct.unpack_from(order + ("H" if kind == 3 else "I"), entries, position + 8)[0]
            pages += 0 if subfile & 1 else 1
        (offset,) = struct.unpack_from(order + "I", entries, 12 * count)
        if not offset or offset in seen:
            break
        seen.add(offset)
    return pages


# ----------------------------------------------------------------------------------------------------------
# The audit


def audit(output: bytes, rendered: list[bytes]) -> None:
    """Raise :class:`PreviewError` if the finished TIFF holds an image besides its own (blurred) picture."""
    layout = exif.parse_tiff(output)
    for ifd in layout.ifds:
        if ifd.name not in ("IFD0", "ExifIFD", "GPS", "InteropIFD"):
            raise PreviewError(f"the TIFF still has a {ifd.name} (possibly a copy of the picture): not written")
        for entry in ifd.entries:
            if ifd.name == "IFD0" and entry.tag in LAYOUT_TAGS:
                continue  # the blurred picture's own layout, as the encoder wrote it (JPEG tables too)
            label = f"TIFF tag {entry.tag} ({ifd.name})"
            value = exif.value_bytes(output, entry)
            text = entry.tag == XMP_TAG or entry.type == 2
            check_blob(label, value, rendered, text=text, tiff_headers=text)
            if entry.tag == PHOTOSHOP_TAG:
                photoshop.check_resources(label, value, rendered)
            elif entry.tag == IPTC_TAG and photoshop.iim_has_preview(value):
                raise PreviewError(f"{label} still holds an IPTC object preview: not written")
    leaks = exif.unrendered_image_data(output, rendered, skip_ifd0=True)
    if leaks:
        raise PreviewError(f"the TIFF still holds the {leaks[0]}: not written")

