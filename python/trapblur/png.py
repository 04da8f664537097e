"""PNG at the byte level: carry the original's metadata chunks into a re-encoded file, minus its previews.

The encoder writes only the chunks that describe pixels (IHDR, IDAT, IEND). The original's text, EXIF,
colour-profile, physical-size and time chunks are copied after IHDR unchanged, except where they carry a
copy of the picture:

* ``eXIf``: its thumbnail (and any other IFD image data) is re-rendered in place (:mod:`trapblur.exif`);
* ``iTXt`` ``XML:com.adobe.xmp`` (plain or compressed): XMP thumbnails and embedded images removed;
* ImageMagick's "Raw profile type exif / APP1 / xmp / iptc / 8bim" text (hex, in ``tEXt``, ``zTXt`` or
  ``iTXt``): decoded, cleaned like the JPEG segment of the same kind, and encoded again the same way;
* any other text: base64 or hex images removed.

A chunk that changed is rewritten with the same type and compression; one that did not is copied byte for
byte. Chunks not listed in :data:`METADATA_CHUNKS` (animation frames, C2PA ``caBX``, private chunks) are
not carried at all. :func:`audit` then checks the finished file.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, replace
from typing import BinaryIO, Iterator

from . import exif, photoshop, xmp
from .errors import ImageError, PreviewError
from .previews import PreviewRenderer, check_blob, overwrite_embedded_images, remove_text_images

SIGNATURE = b"\x89PNG\r\n\x1a\n"
METADATA_CHUNKS = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"pHYs", b"tIME", b"cICP"}
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
XMP_KEYWORD = b"XML:com.adobe.xmp"
RAW_PROFILE = b"raw profile type "
_MAX_TEXT = 256 << 20  # decompressed text larger than this is refused rather than inflated


@dataclass(frozen=True)
class Chunk:
    kind: bytes
    data: bytes

    def to_bytes(self) -> bytes:
        crc = zlib.crc32(self.kind + self.data) & 0xFFFFFFFF
        return struct.pack(">I", len(self.data)) + self.kind + self.data + struct.pack(">I", crc)


def iter_chunks(data: bytes) -> Iterator[Chunk]:
    """The chunks of a PNG file; raises :class:`ImageError` if it is truncated or has no IEND."""
    if not data.startswith(SIGNATURE):
        raise ImageError("not a PNG file (bad signature)")
    position = len(SIGNATURE)
    while True:
        if position + 8 > len(data):
            raise ImageError("truncated PNG: the data ends before the IEND chunk")
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if end > len(data):
            raise ImageError(f"truncated PNG: chunk {kind!r} runs past the end of the file")
        yield Chunk(kind, data[position + 8 : position + 8 + length])
        if kind == b"IEND":
            return
        position = end


def is_animated(stream: BinaryIO) -> bool:
    """Whether the PNG in ``stream`` (positioned anywhere) is an animation: an ``acTL`` chunk before its
    image data. Reads chunk headers only; a broken structure ends the walk (False)."""
    stream.seek(len(SIGNATURE))
    while True:
        header = stream.read(8)
        if len(header) < 8:
            return False
        length, kind = struct.unpack(">I4s", header)
        if kind == b"acTL":
            return True
        if kind in (b"IDAT", b"IEND"):
            return False
        stream.seek(length + 4, 1)


def check_complete(data: bytes) -> None:
    for _ in iter_chunks(data):
        pass


# ----------------------------------------------------------------------------------------------------------
# Text chunks


@dataclass(frozen=True)
class TextChunk:
    """A tEXt/zTXt/iTXt chunk taken apart; ``text`` is decompressed."""

    kind: bytes
    keyword: bytes
    header: bytes  # between the keyword's NUL and the text: zTXt's method; iTXt's flag, method, language...
    text: bytes
    compressed: bool

    def to_chunk(self) -> Chunk:
        body = zlib.compress(self.text) if self.compressed else self.text
        return Chunk(self.kind, self.keyword + b"\x00" + self.header + body)


def decode_text(chunk: Chunk) -> TextChunk:
    """Raises ValueError (or zlib.error) for a malformed chunk."""
    keyword, separator, rest = chunk.data.partition(b"\x00")
    if not separator:
        raise ValueError("no keyword separator")
    if chunk.kind == b"tEXt":
        return TextChunk(chunk.kind, keyword, b"", rest, False)
    if chunk.kind == b"zTXt":
        return TextChunk(chunk.kind, keyword, rest[:1], _inflate(rest[1:]), True)
    flag = rest[:1] == b"\x01"
    language_end = rest.index(b"\x00", 2)
    translated_end = rest.index(b"\x00", language_end + 1)
    header, body = rest[: translated_end + 1], rest[translated_end + 1 :]
    return TextChunk(chunk.kind, keyword, header, _inflate(body) if flag else body, flag)


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    text = inflater.decompress(data, _MAX_TEXT)
    if inflater.unconsumed_tail:
        raise ValueError("compressed text too large to check")
    return text


_RAW_PROFILE_HEADER = re.compile(rb"\A\s*([^\n]*)\n\s*(\d+)\s*\n")
_HEX_RUN = re.compile(rb"[0-9a-fA-F]+")


@dataclass(frozen=True)
class RawProfile:
    """ImageMagick's hex form of a binary profile: a type line, a length line, then hex digits."""

    name: bytes
    data: bytes
    body_start: int  # where the hex digits start in the text

    def encode(self, original_text: bytes, data: bytes) -> bytes:
        """``data`` in the same form; when its length is unchanged, in the original's exact layout."""
        if len(data) == len(self.data):
            digits = data.hex().encode()
            position = 0

            def next_digits(run: re.Match[bytes]) -> bytes:
                nonlocal position
                size = min(len(run.group()), len(digits) - position)
                position += size
                return digits[position - size : position] + run.group()[size:]

            return original_text[: self.body_start] + _HEX_RUN.sub(next_digits, original_text[self.body_start :])
        hexed = data.hex()
        lines = "".join("\n" + hexed[i : i + 72] for i in range(0, len(hexed), 72))
        return f"\n{self.name.decode('latin-1')}\n{len(data):8d}\n{lines}\n".encode()


def decode_raw_profile(text: bytes) -> RawProfile | None:
    match = _RAW_PROFILE_HEADER.match(text)
    if not match:
        return None
    length = int(match.group(2))
    digits = re.sub(rb"[^0-9a-fA-F]", b"", text[match.end() :])
    if len(digits) < 2 * length:
        return None
    return RawProfile(match.group(1).strip(), bytes.fromhex(digits[: 2 * length].decode()), match.end())


def _clean_profile(name: bytes, data: bytes, renderer: PreviewRenderer) -> tuple[bytes, tuple[str, ...]]:
    """A raw profile's bytes, cleaned like the JPEG segment of the same kind."""
    name = name.lower()
    if name in (b"exif", b"app1") and not data.startswith(b"http://"):
        header, tiff = exif.strip_exif_header(data)
        cleaned = exif.sanitise_exif(tiff, renderer)
        return header + cleaned.data, cleaned.notes
    if name in (b"xmp", b"app1"):
        cleaned_xmp = xmp.clean_xmp(data)
        return cleaned_xmp.packet, cleaned_xmp.notes
    if name in (b"iptc", b"8bim") and data.startswith(b"8BIM"):
        resources = photoshop.clean_resources(data, renderer)
        return resources.stream, resources.notes
    if name == b"iptc":
        return photoshop.clean_iim(data)
    if name in (b"icc", b"icm"):
        return data, ()
    buffer = bytearray(data)
    count = overwrite_embedded_images(buffer, renderer)
    return bytes(buffer), (f"{count} embedded preview(s) re-rendered or removed",) if count else ()


def _clean_text(chunk: Chunk, renderer: PreviewRenderer) -> tuple[Chunk | None, tuple[str, ...]]:
    """The chunk with its previews removed; None (dropped) when it cannot be read, so cannot be checked."""
    try:
        text = decode_text(chunk)
    except (ValueError, zlib.error):
        return None, (f"unreadable PNG {chunk.kind.decode()} chunk dropped (it could not be checked for previews)",)
    where = f"PNG {chunk.kind.decode()} {text.keyword.decode('latin-1')!r}"
    if text.keyword == XMP_KEYWORD:
        cleaned = xmp.clean_xmp(text.text)
        new_text, notes = cleaned.packet, cleaned.notes
    elif text.keyword.lower().startswith(RAW_PROFILE):
        profile = decode_raw_profile(text.text)
        if profile is None:
            return None, (f"unreadable {where} dropped (it could not be checked for previews)",)
        data, notes = _clean_profile(text.keyword[len(RAW_PROFILE) :], profile.data, renderer)
        new_text = profile.encode(text.text, data) if notes else text.text
    else:
        new_text, count = remove_text_images(text.text)
        notes = (f"{count} base64 image(s) removed",) if count else ()
    if not notes:
        return chunk, ()
    return replace(text, text=new_text).to_chunk(), tuple(f"{n} ({where})" for n in notes)


def carry_metadata(original: bytes, encoded: bytes, renderer: PreviewRenderer) -> tuple[bytes, tuple[str, ...]]:
    """``encoded`` with the original's metadata chunks, previews re-rendered or removed, after its IHDR."""
    notes: list[str] = []
    carried = []
    for chunk in iter_chunks(original):
        if chunk.kind not in METADATA_CHUNKS:
            continue
        if chunk.kind == b"eXIf":
            header, tiff = exif.strip_exif_header(chunk.data)
            cleaned = exif.sanitise_exif(tiff, renderer)
            notes.extend(cleaned.notes)
            chunk = Chunk(chunk.kind, header + cleaned.data)
        elif chunk.kind in TEXT_CHUNKS:
            cleaned_chunk, found = _clean_text(chunk, renderer)
            notes.extend(found)
            if cleaned_chunk is None:
                continue
            chunk = cleaned_chunk
        carried.append(chunk.to_bytes())
    new_chunks = list(iter_chunks(encoded))
    if not new_chunks or new_chunks[0].kind != b"IHDR":
        raise ImageError("internal error: the PNG encoder wrote no IHDR first")
    own = [c.to_bytes() for c in new_chunks[1:] if c.kind not in METADATA_CHUNKS]
    return SIGNATURE + new_chunks[0].to_bytes() + b"".join(carried) + b"".join(own), tuple(dict.fromkeys(notes))


# ----------------------------------------------------------------------------------------------------------
# The audit

_PIXEL_CHUNKS = {b"IHDR", b"IDAT", b"IEND", b"PLTE", b"tRNS", b"bKGD"}


def audit(output: bytes, rendered: list[bytes]) -> None:
    """Raise :class:`PreviewError` if the finished PNG still carries an image we did not draw."""
    for chunk in iter_chunks(output):
        if chunk.kind in _PIXEL_CHUNKS:
            continue
        label = f"the PNG {chunk.kind.decode('latin-1')} chunk"
        check_blob(label, chunk.data, rendered)
        if chunk.kind == b"eXIf":
            _check_exif(label, exif.strip_exif_header(chunk.data)[1], rendered)
        elif chunk.kind == b"iCCP":
            _, _, rest = chunk.data.partition(b"\x00")
            check_blob(label, _inflate_or_refuse(label, rest[1:]), rendered)
        elif chunk.kind in TEXT_CHUNKS:
            try:
                text = decode_text(chunk)
            except (ValueError, zlib.error):
                raise PreviewError(f"{label} cannot be decoded to check it for embedded images: not written") from None
            label = f"{label} {text.keyword.decode('latin-1')!r}"
            if text.keyword.lower().startswith(RAW_PROFILE):  # hex: checked once decoded
                profile = decode_raw_profile(text.text)
                if profile is None:
                    raise PreviewError(f"{label} is not a readable raw profile, so it cannot be checked: not written")
                _check_profile(label, text.keyword[len(RAW_PROFILE) :].lower(), profile.data, rendered)
            else:
                check_blob(label, text.text, rendered, text=True, tiff_headers=True)


def _inflate_or_refuse(label: str, data: bytes) -> bytes:
    try:
        return _inflate(data)
    except (ValueError, zlib.error):
        raise PreviewError(f"{label} cannot be decompressed to check it for embedded images: not written") from None


def _check_profile(label: str, name: bytes, data: bytes, rendered: list[bytes]) -> None:
    text = name in (b"xmp",) or data.startswith(b"http://")
    check_blob(label, data, rendered, text=text, tiff_headers=text)
    if name in (b"exif", b"app1") and not text:
        _check_exif(label, exif.strip_exif_header(data)[1], rendered)
    if data.startswith(b"8BIM"):
        photoshop.check_resources(label, data, rendered)
    elif name == b"iptc" and photoshop.iim_has_preview(data):
        raise PreviewError(f"{label} still holds an IPTC object preview: not written")


def _check_exif(label: str, tiff: bytes, rendered: list[bytes]) -> None:
    leaks = exif.unrendered_image_data(tiff, rendered)
    if leaks:
        raise PreviewError(f"{label} still holds the {leaks[0]}, not re-rendered or removed: not written")


# ----------------------------------------------------------------------------------------------------------
# Large metadata chunks: what the decoders refuse, and a copy of the file they accept

#: OpenCV (4.11 and later read PNG chunks themselves) refuses a file with any chunk before the image data
#: whose length plus its 12 bytes of framing exceeds 8,000,000 bytes (libpng's PNG_USER_CHUNK_MALLOC_MAX),
#: and reports it as undecodable. Big iTXt (XMP with previews), iCCP and private chunks reach that.
OPENCV_CHUNK_LIMIT = 8_000_000 - 12
#: Pillow refuses compressed text and ICC chunks that decompress to more than PngImagePlugin.MAX_TEXT_CHUNK
#: (1 MiB); uncompressed text may total 64 MiB. Decompression is bounded at that total here too.
_TEXT_MEMORY_LIMIT = 64 * 1024 * 1024
#: Chunks the decoders need to draw the pixels: always given to them.
_DECODER_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}


def for_decoders(data: bytes) -> bytes:
    """``data``, or an equivalent PNG that OpenCV and Pillow will read: same pixels, size and EXIF.

    Only metadata the decoders need not see is changed, and only where a chunk exceeds their limits:
    an ancillary chunk over OpenCV's limit is left out (text, ICC profile, private data: the pixels and
    the geometry never depend on them); compressed text over Pillow's limit is given to it uncompressed,
    and an oversized compressed ICC profile is left out. An ``eXIf`` chunk is always kept, because the
    orientation is read from it: one over OpenCV's limit raises :class:`ImageError`. The original file,
    with every chunk, is what the output's metadata is copied from.
    """
    from PIL import PngImagePlugin

    pillow_limit = PngImagePlugin.MAX_TEXT_CHUNK
    chunks = list(iter_chunks(data))
    out: list[Chunk] = []
    changed = False
    before_image = True
    for chunk in chunks:
        if chunk.kind == b"IDAT":
            before_image = False
        replacement = chunk
        if chunk.kind not in _DECODER_CHUNKS:
            if before_image and len(chunk.data) > OPENCV_CHUNK_LIMIT:
                if chunk.kind == b"eXIf":
                    raise ImageError(
                        f"the PNG's EXIF chunk is {len(chunk.data) / 1e6:.1f} MB, more than the decoder reads "
                        "(8 MB); the image orientation cannot be read from it"
                    )
                replacement = None
            elif chunk.kind in (b"zTXt", b"iTXt", b"iCCP"):
                replacement = _readable_by_pillow(chunk, pillow_limit)
        if replacement is not chunk:
            changed = True
        if replacement is not None:
            out.append(replacement)
    if not changed:
        return data
    return SIGNATURE + b"".join(c.to_bytes() for c in out)


def _readable_by_pillow(chunk: Chunk, limit: int) -> Chunk | None:
    """``chunk`` itself, or (when it decompresses beyond ``limit``) an uncompressed equivalent or None."""
    keyword, separator, rest = chunk.data.partition(b"\x00")
    if not separator:
        return chunk  # malformed: Pillow reports it as it always did
    if chunk.kind == b"zTXt":
        text = _inflate_beyond(rest[1:], limit)
        return chunk if text is None else Chunk(b"tEXt", keyword + b"\x00" + text)
    if chunk.kind == b"iCCP":
        return chunk if _inflate_beyond(rest[1:], limit) is None else None
    if len(rest) < 2 or rest[0] != 1:  # iTXt, not compressed
        return chunk
    language, _, rest_after_language = rest[2:].partition(b"\x00")
    translated, _, compressed = rest_after_language.partition(b"\x00")
    text = _inflate_beyond(compressed, limit)
    if text is None:
        return chunk
    return Chunk(b"iTXt", keyword + b"\x00\x00\x00" + language + b"\x00" + translated + b"\x00" + text)


def _inflate_beyond(compressed: bytes, limit: int) -> bytes | None:
    """The inflated bytes when they exceed ``limit`` (bounded), else None (the decoder copes)."""
    inflater = zlib.decompressobj()
    try:
        head = inflater.decompress(compressed, limit + 1)
        if len(head) <= limit:
            return None
        rest = inflater.decompress(inflater.unconsumed_tail, _TEXT_MEMORY_LIMIT - len(head))
    except zlib.error:
        return None  # corrupt: let the decoder say so
    if inflater.unconsumed_tail:
        raise ImageError(f"a PNG text chunk decompresses to more than {_TEXT_MEMORY_LIMIT // 2**20} MiB: refused")
    return head + rest
