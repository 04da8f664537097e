"""Images hidden in metadata: find them, overwrite them in place, and audit an output before it is written.

Why this module exists
----------------------
Cameras and editors tuck small copies of the photograph into its metadata: EXIF thumbnails, maker-note
previews, Photoshop thumbnails, base64 JPEGs or PNGs in XMP, depth maps. After the person is blurred in
the picture, any such copy would still show them. The format-aware cleaners (:mod:`.exif`, :mod:`.xmp`,
:mod:`.photoshop`, :mod:`.jpeg_metadata`, :mod:`.png`, :mod:`.tiff`) re-render or remove every preview
they understand. This module gives them two things:

* :class:`PreviewRenderer`, which draws replacement previews from the blurred image and remembers every
  one it drew;
* an independent **audit**: :func:`check_blob` looks for the signature of any embedded image (JPEG, PNG,
  GIF, BMP, WebP, TIFF, JPEG 2000, JPEG XL, HEIF/AVIF, PSD; raw, base64, hex or UTF-16 base64) and raises
  :class:`~trapblur.errors.PreviewError` for any that is not one the renderer drew. Run on the finished
  output, it catches what a cleaner missed (a new spelling, a split payload) and fails closed: the image
  is withheld instead of written.

Everything here is a pure function on bytes.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from .errors import PreviewError
from .jpeg import embedded_jpeg_extent, looks_like_jpeg

RenderJpeg = Callable[[int, int, int], bytes]
"""(width, height, max_bytes) -> a JPEG of the blurred image at that size, or b"" if none fits."""
RenderRaw = Callable[[int, int, int], bytes]
"""(width, height, channels) -> the blurred image's 8-bit samples at that size (1 = grey, 3 = RGB)."""


@dataclass
class PreviewRenderer:
    """Draws previews from the blurred image and remembers each one, so the audit can tell them apart."""

    jpeg_at: RenderJpeg
    raw_at: RenderRaw
    rendered: list[bytes] = field(default_factory=list)

    def jpeg(self, width: int, height: int, max_bytes: int) -> bytes:
        data = self.jpeg_at(width, height, max_bytes) if width > 0 and height > 0 else b""
        if len(data) > max_bytes:
            data = b""
        if data:
            self.rendered.append(data)
        return data

    def raw(self, width: int, height: int, channels: int) -> bytes:
        data = self.raw_at(width, height, channels)
        self.rendered.append(data)
        return data


# ----------------------------------------------------------------------------------------------------------
# Signatures


@dataclass(frozen=True)
class FoundImage:
    """An embedded image's signature at ``offset`` (``end`` where its removal would stop, for text)."""

    offset: int
    kind: str
    end: int = -1


def _bmp(blob: bytes, p: int) -> bool:
    return blob[p + 6 : p + 10] == b"\0\0\0\0" and blob[p + 14 : p + 15] in (b"\x0c", b"\x28", b"\x34", b"\x38", b"\x40", b"\x6c", b"\x7c")


def _heif(blob: bytes, p: int) -> bool:  # p points at "ftyp"; the brand follows
    return p >= 4 and blob[p + 4 : p + 8] in _HEIF_BRANDS


_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}

# (literal, extra check or None, kind, offset of the literal inside the image)
_BINARY_SIGNATURES: tuple[tuple[bytes, Callable[[bytes, int], bool] | None, str, int], ...] = (
    (b"\xff\xd8\xff", looks_like_jpeg, "JPEG", 0),
    (b"\x89PNG\r\n\x1a\n", None, "PNG", 0),
    (b"GIF87a", None, "GIF", 0),
    (b"GIF89a", None, "GIF", 0),
    (b"BM", _bmp, "BMP", 0),
    (b"RIFF", lambda b, p: b[p + 8 : p + 12] in (b"WEBP", b"AVI "), "WebP", 0),
    (b"\0\0\0\x0cjP  \r\n\x87\n", None, "JPEG 2000", 0),
    (b"\xff\x4f\xff\x51", None, "JPEG 2000", 0),
    (b"\0\0\0\x0cJXL \r\n\x87\n", None, "JPEG XL", 0),
    (b"ftyp", _heif, "HEIF", 4),
    (b"8BPS\0\x01", None, "PSD", 0),
)
_TIFF_SIGNATURES = ((b"II*\0", None, "TIFF", 0), (b"MM\0*", None, "TIFF", 0))
# The base64 spelling of each format's first bytes (images are encoded from their first byte, so the
# signature sits on a base64 group boundary).
_BASE64_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"/9j/", "JPEG"),
    (b"iVBORw0KGgo", "PNG"),
    (b"R0lGODdh", "GIF"),
    (b"R0lGODlh", "GIF"),
    (b"UklGR", "WebP"),
    (b"SUkqA", "TIFF"),
    (b"TU0AK", "TIFF"),
    (b"AAAADGpQICAN", "JPEG 2000"),
    (b"/0//UQ", "JPEG 2000"),
    (b"AAAADEpYTCAN", "JPEG XL"),
    (b"OEJQUw", "PSD"),
)
_UTF16_SIGNATURES = tuple(
    (encoded, f"UTF-16 base64 {kind}")
    for literal, kind in _BASE64_SIGNATURES[:2]
    for encoded in (literal.decode().encode("utf-16-le"), literal.decode().encode("utf-16-be"))
)
_HEX_SIGNATURE = re.compile(rb"(?i)ffd8ff[c-f][0-9a-f]|89504e470d0a1a0a|47494638[79]61")


def find_binary_images(blob: bytes, tiff_headers: bool = False) -> Iterator[FoundImage]:
    """Signatures of images stored as bytes (and base64 literals, which need no decoding to be seen).

    TIFF headers are only looked for when asked: EXIF and maker notes are themselves TIFF structures.
    """
    signatures = _BINARY_SIGNATURES + (_TIFF_SIGNATURES if tiff_headers else ())
    for literal, check, kind, shift in signatures:
        position = blob.find(literal)
        while position >= 0:
            if check is None or check(blob, position):
                yield FoundImage(position - shift, kind)
            position = blob.find(literal, position + 1)
    for literal, kind in _BASE64_SIGNATURES + _UTF16_SIGNATURES:
        if literal in blob:
            yield FoundImage(blob.find(literal), kind if kind.startswith("UTF-16") else f"base64 {kind}")


# Text encodings: a run of base64 characters, allowing white space and numeric character references
# (``&#xA;``) that XML writers put between lines.
_TEXT_RUN = re.compile(rb"(?:[A-Za-z0-9+/ \t\r\n]+|&#(?:x[0-9A-Fa-f]{1,6}|[0-9]{1,7});)+={0,2}")
_BREAKS = re.compile(rb"[ \t\r\n]+|&#(?:x[0-9A-Fa-f]{1,6}|[0-9]{1,7});")
_MIN_RUN = 16


def find_text_images(text: bytes) -> Iterator[FoundImage]:
    """Images encoded as base64 or hex inside text (XML, comments), each with the span it occupies.

    Line breaks and character references are allowed anywhere in the encoding, even inside the first
    characters, because the text is searched after taking them out.
    """
    for run in _TEXT_RUN.finditer(text):
        if run.end() - run.start() < _MIN_RUN:
            continue
        raw = run.group()
        pieces, starts = [], []  # the run without breaks, and where each kept piece started in it
        kept = 0
        last = 0
        for gap in _BREAKS.finditer(raw):
            if gap.start() > last:
                pieces.append(raw[last : gap.start()])
                starts.append((kept, last))
                kept += gap.start() - last
            last = gap.end()
        if last < len(raw):
            pieces.append(raw[last:])
            starts.append((kept, last))
        joined = b"".join(pieces)
        if len(joined) < _MIN_RUN:
            continue
        end = run.start() + len(raw.rstrip(b" \t\r\n"))
        found = _first_encoded_image(joined)
        if found is None:
            continue
        index, kind = found
        local = next(raw_at + index - at for at, raw_at in reversed(starts) if at <= index)
        yield FoundImage(run.start() + local, kind, end)


def _first_encoded_image(joined: bytes) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for literal, kind in _BASE64_SIGNATURES:
        index = joined.find(literal)
        if index >= 0 and (best is None or index < best[0]):
            best = (index, f"base64 {kind}")
    match = _HEX_SIGNATURE.search(joined)
    if match and (best is None or match.start() < best[0]):
        best = (match.start(), "hex-encoded")
    if best is None:  # formats whose base64 start varies: decode the head of the run
        head = _decode_head(joined)
        if _starts_with_image(head) or (head.startswith(b"\xff\x0a") and len(joined) >= 256):
            best = (0, "base64-encoded")
    return best


def _decode_head(joined: bytes) -> bytes:
    try:
        return base64.b64decode(joined[: 88 - 88 % 4], validate=True)
    except (binascii.Error, ValueError):
        return b""


def _starts_with_image(head: bytes) -> bool:
    return any(found.offset == 0 for found in find_binary_images(head, tiff_headers=True))


def remove_text_images(text: bytes, keep_length: bool = False) -> tuple[bytes, int]:
    """``text`` without its base64/hex images (each run from the image's start to the run's end).

    With ``keep_length`` the removed characters become spaces, for text whose length others point past.
    """
    found = list(find_text_images(text))
    if not found:
        return text, 0
    out = bytearray()
    last = 0
    for image in found:
        out += text[last : image.offset]
        if keep_length:
            out += b" " * (image.end - image.offset)
        last = image.end
    out += text[last:]
    return bytes(out), len(found)


# ----------------------------------------------------------------------------------------------------------
# Overwriting in place


Span = tuple[int, int]


def overwrite_embedded_images(
    blob: bytearray, renderer: PreviewRenderer, protected: Sequence[Span] = (), start: int = 0
) -> int:
    """Overwrite every embedded JPEG, PNG, WebP or BMP in ``blob[start:]`` in place; return how many.

    JPEGs are re-rendered from the blurred image at their own size and padded with zeros to their
    original length, so offsets pointing past them stay valid; those too broken to know the size of, and
    other formats, are zeroed. Spans in ``protected`` (previews a cleaner already re-rendered) are left
    alone. Anything else found (base64, formats without a length) is left for the audit to refuse.
    """
    count = 0
    done: list[Span] = list(protected)
    snapshot = bytes(blob)
    for image in sorted(find_binary_images(snapshot), key=lambda f: f.offset):
        if image.offset < start or any(a <= image.offset < b for a, b in done):
            continue
        end = _extent(snapshot, image)
        if end is None:
            continue
        if image.kind == "JPEG":
            extent = embedded_jpeg_extent(snapshot, image.offset)
            replacement = renderer.jpeg(extent.width, extent.height, end - image.offset)
        else:
            replacement = b""
        blob[image.offset : end] = replacement + b"\0" * (end - image.offset - len(replacement))
        done.append((image.offset, end))
        count += 1
    return count


def _extent(blob: bytes, image: FoundImage) -> int | None:
    """Where the embedded image that starts at ``image.offset`` ends (at most the end of ``blob``)."""
    p = image.offset
    if image.kind == "JPEG":
        return embedded_jpeg_extent(blob, p).end
    if image.kind == "PNG":
        position = p + 8
        while position + 12 <= len(blob):
            length, kind = struct.unpack_from(">I4s", blob, position)
            position += 12 + length
            if kind == b"IEND" or position >= len(blob):
                break
        return min(position, len(blob))
    if image.kind == "WebP":
        return min(p + 8 + struct.unpack_from("<I", blob, p + 4)[0], len(blob))
    if image.kind == "BMP":
        return min(p + max(struct.unpack_from("<I", blob, p + 2)[0], 14), len(blob))
    return None


# ----------------------------------------------------------------------------------------------------------
# The audit


def unrendered_images(
    blob: bytes, rendered: Sequence[bytes], text: bool = False, tiff_headers: bool = False
) -> list[FoundImage]:
    """The images embedded in ``blob`` that are not previews the renderer drew (nor inside one)."""
    found = list(find_binary_images(blob, tiff_headers or text))
    if text:
        found.extend(find_text_images(blob))
    drawn = [
        (image.offset, image.offset + len(r))
        for image in found if image.kind == "JPEG"
        for r in rendered if blob.startswith(r, image.offset)
    ]
    return [image for image in found if not any(a <= image.offset < b for a, b in drawn)]


def check_blob(
    label: str, blob: bytes, rendered: Sequence[bytes], text: bool = False, tiff_headers: bool = False
) -> None:
    """Raise :class:`PreviewError` naming ``label`` if ``blob`` holds an image the renderer did not draw."""
    leaks = unrendered_images(blob, rendered, text, tiff_headers)
    if leaks:
        first = min(leaks, key=lambda f: f.offset)
        raise PreviewError(
            f"{label} holds an embedded {first.kind} image (at byte {first.offset}) that could not be "
            "re-rendered from the blurred image or removed, so it may still show the person: not written"
        )
