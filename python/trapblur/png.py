"""PNG at the byte level: carry the original's metadata chunks into a re-encoded file.

The encoder writes only the chunks that describe pixels (IHDR, IDAT, IEND). The original's text, EXIF,
colour-profile, physical-size and time chunks are copied after IHDR unchanged, except the EXIF chunk,
whose embedded thumbnail is re-rendered from the blurred image (see :mod:`trapblur.jpeg`).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Iterator

from .errors import ImageError
from .jpeg import RenderPreview, rerender_embedded_jpegs

SIGNATURE = b"\x89PNG\r\n\x1a\n"
METADATA_CHUNKS = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"pHYs", b"tIME", b"cICP"}


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


def check_complete(data: bytes) -> None:
    for _ in iter_chunks(data):
        pass


def carry_metadata(original: bytes, encoded: bytes, render: RenderPreview) -> tuple[bytes, tuple[str, ...]]:
    """``encoded`` with the original's metadata chunks inserted after its IHDR."""
    notes: list[str] = []
    carried = []
    for chunk in iter_chunks(original):
        if chunk.kind not in METADATA_CHUNKS:
            continue
        if chunk.kind == b"eXIf":
            cleaned, count = rerender_embedded_jpegs(chunk.data, start=0, render=render)
            if count:
                notes.append(f"{count} embedded preview(s) re-rendered from the blurred image")
            chunk = Chunk(chunk.kind, cleaned)
        carried.append(chunk.to_bytes())
    new_chunks = list(iter_chunks(encoded))
    if not new_chunks or new_chunks[0].kind != b"IHDR":
        raise ImageError("internal error: the PNG encoder wrote no IHDR first")
    own = [c.to_bytes() for c in new_chunks[1:] if c.kind not in METADATA_CHUNKS]
    return SIGNATURE + new_chunks[0].to_bytes() + b"".join(carried) + b"".join(own), tuple(notes)


# ----------------------------------------------------------------------------------------------------------
# Large metadata chunks: what the decoders refuse, and a copy of the file they accept

#: OpenCV (4.11 and later read PNG chunks themselves) refuses a file with any chunk before the image data
#: whose length plus its 12 bytes of framing exceeds 8,000,000 bytes (libpng's PNG_USER_CHUNK_MALLOC_MAX),
#: and reports it as undecodable. Big iTXt (XMP with previews), iCCP and private chunks reach that.
OPENCV_CHUNK_LIMIT = 8_000_000 - 12
#: Pillow refuses compressed text and ICC chunks that decompress to more than PngImagePlugin.MAX_TEXT_CHUNK
#: (1 MiB); uncompressed text may total 64 MiB. Decompression is bounded at that total here too.
_TEXT_MEMORY_LIMIT = 64 * 1024 * 1024
_PIXEL_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}


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
        if chunk.kind not in _PIXEL_CHUNKS:
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
