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
