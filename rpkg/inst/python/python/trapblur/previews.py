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

import numpy as np

from .errors import PreviewError
from .jpeg import embedded_jpeg_extent, looks_like_jpeg

RenderJpeg = Callable[[int, int, int], bytes]
"""(width, height, max_bytes) -> a JPEG of the blurred image at that size, or b"" if none fits."""
RenderRaw = Callable[[int, int, int], bytes]
"""(width, height, channels) -> the blurred image's 8-bit samples at that size (1 = grey, 3 = RGB)."""


MAX_PREVIEW_SIDE = 8192  # larger previews are zeroed, not re-rendered


@dataclass
class PreviewRenderer:
    """Draws previews from the blurred image and remembers each one, so the audit can tell them apart."""

    jpeg_at: RenderJpeg
    raw_at: RenderRaw
    rendered: list[bytes] = field(default_factory=list)

    def jpeg(self, width: int, height: int, max_bytes: int) -> bytes:
        """A JPEG preview, or b"" (the caller then zeroes the old one) if none fits or the size is absurd."""
        if not (0 < width <= MAX_PREVIEW_SIDE and 0 < height <= MAX_PREVIEW_SIDE):
            return b""  # a header claiming 65535 x 65535 must not make us allocate gigabytes
        data = self.jpeg_at(width, height, max_bytes)
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
# The URL-safe alphabet spells + and / as - and _.
_URL_SAFE = bytes.maketrans(b"+/", b"-_")
_BASE64_SIGNATURES += tuple(
    (literal.translate(_URL_SAFE), kind) for literal, kind in _BASE64_SIGNATURES if literal.translate(_URL_SAFE) != literal
)
_UTF16_SIGNATURES = tuple(
    (encoded, f"UTF-16 base64 {kind}")
    for literal, kind in _BASE64_SIGNATURES[:2]
    for encoded in (literal.decode().encode("utf-16-le"), literal.decode().encode("utf-16-be"))
)
# Encoded starts that plain literals cannot spell: hex (any case), and base64 of formats whose first
# bytes hold a size (HEIF/AVIF: a box size then "ftyp"; BMP: "BM", the file size, four zero bytes).
_HEX_LITERALS = ((b"ffd8ff", "hex-encoded JPEG"), (b"89504e470d0a1a0a", "hex-encoded PNG"),
                 (b"4749463839", "hex-encoded GIF"), (b"4749463837", "hex-encoded GIF"))
_BASE64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _encoded_signature(joined: bytes) -> tuple[int, str] | None:
    """The first hex or size-prefixed base64 image start in ``joined`` (text without breaks)."""
    hits = []
    lowered = joined.lower()
    for literal, kind in _HEX_LITERALS:
        index = lowered.find(literal)
        while index >= 0 and literal == b"ffd8ff" and lowered[index + 6 : index + 7] not in (b"c", b"d", b"e", b"f"):
            index = lowered.find(literal, index + 1)
        if index >= 0:
            hits.append((index, kind))
    index = joined.find(b"Z0eX", 6)
    while index >= 0:
        if joined.startswith(b"AAAA", index - 6) and all(c in _BASE64_ALPHABET for c in joined[index - 2 : index]):
            hits.append((index - 6, "base64 HEIF"))
            break
        index = joined.find(b"Z0eX", index + 1)
    index = joined.find(b"AAAAA", 8)
    while index >= 0:
        if joined.startswith(b"Qk", index - 8) and all(c in _BASE64_ALPHABET for c in joined[index - 6 : index]):
            hits.append((index - 8, "base64 BMP"))
            break
        index = joined.find(b"AAAAA", index + 1)
    return min(hits) if hits else None


@dataclass(frozen=True)
class _SignatureIndex:
    """Every signature, indexed by its first two byte pairs: one vectorised pass over the data finds the
    few places worth a closer look (a Python-level search per signature costs several times as much)."""

    by_first: dict[int, list[tuple[bytes, Callable[[bytes, int], bool] | None, str, int]]]
    first_pairs: np.ndarray  # bool[65536]: bytes 0-1 of some signature
    second_pairs: np.ndarray  # bool[65536]: bytes 2-3 of some signature (any pair for 3-byte ones)
    short: tuple[tuple[bytes, Callable[[bytes, int], bool] | None, str, int], ...]  # 2-byte ones: found apart

    @classmethod
    def build(cls, with_tiff: bool) -> "_SignatureIndex":
        table = list(_BINARY_SIGNATURES) + (list(_TIFF_SIGNATURES) if with_tiff else [])
        table += [(literal, None, kind if kind.startswith("UTF-16") else f"base64 {kind}", 0)
                  for literal, kind in _BASE64_SIGNATURES + _UTF16_SIGNATURES]
        first, second = np.zeros(65536, bool), np.zeros(65536, bool)
        by_first: dict[int, list] = {}
        short = []
        for row in table:
            literal = row[0]
            if len(literal) < 3:  # "BM": a pair that is everywhere would make every hit a candidate
                short.append(row)
                continue
            by_first.setdefault(literal[0], []).append(row)
            first[(literal[0] << 8) | literal[1]] = True
            if len(literal) >= 4:
                second[(literal[2] << 8) | literal[3]] = True
            else:
                second[(literal[2] << 8) : (literal[2] << 8) + 256] = True
        return cls(by_first, first, second, tuple(short))

    def candidates(self, blob: bytes) -> list[int]:
        """Positions whose bytes 0-1 and 2-3 both match some signature (pairs read as big-endian
        16-bit words at even and at odd offsets: no copy, two table look-ups per byte)."""
        found: list[int] = []
        for parity in (0, 1):
            size = (len(blob) - parity) // 2
            if size < 1:
                continue
            words = np.frombuffer(blob, ">u2", size, parity)
            starts = np.flatnonzero(self.first_pairs[words])
            if not starts.size:
                continue
            inside = starts + 1 < size
            found.extend((2 * starts[~inside] + parity).tolist())  # too near the end to pre-check
            starts = starts[inside]
            found.extend((2 * starts[self.second_pairs[words[starts + 1]]] + parity).tolist())
        return sorted(found)


_INDEX = {False: _SignatureIndex.build(False), True: _SignatureIndex.build(True)}


def find_binary_images(blob: bytes, tiff_headers: bool = False) -> Iterator[FoundImage]:
    """Signatures of images stored as bytes (and base64 literals, which need no decoding to be seen).

    TIFF headers are only looked for when asked: EXIF and maker notes are themselves TIFF structures.
    """
    index = _INDEX[tiff_headers]
    for position in index.candidates(blob):
        for literal, check, kind, shift in index.by_first.get(blob[position], ()):
            if blob.startswith(literal, position) and (check is None or check(blob, position)):
                yield FoundImage(position - shift, kind)
    for literal, check, kind, shift in index.short:
        position = blob.find(literal)
        while position >= 0:
            if check is None or check(blob, position):
                yield FoundImage(position - shift, kind)
            position = blob.find(literal, position + 1)


# Text encodings: a run of base64 characters, allowing white space and numeric character references
# (``&#xA;``) that XML writers put between lines.
_TEXT_RUN = re.compile(rb"(?:[A-Za-z0-9+/\-_ \t\r\n]+|&#(?:x[0-9A-Fa-f]{1,6}|[0-9]{1,7});)+={0,2}")
_BREAKS = re.compile(rb"[ \t\r\n]+|&#(?:x[0-9A-Fa-f]{1,6}|[0-9]{1,7});")
_REFERENCES = re.compile(rb"&#(?:x[0-9A-Fa-f]{1,6}|[0-9]{1,7});")
_MIN_RUN = 16


def find_text_images(text: bytes) -> Iterator[FoundImage]:
    """Images encoded as base64 or hex inside text (XML, comments), each with the span it occupies.

    Line breaks and character references are allowed anywhere in the encoding, even inside the first
    characters, because the text is searched after taking them out. A first pass over the whole text
    without them rules out nearly every text at C speed; only a hit is looked at run by run.
    """
    if not _may_hold_encoded_image(text):
        return
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


def _may_hold_encoded_image(text: bytes) -> bool:
    joined = text.translate(None, b" \t\r\n")
    if b"&#" in joined:
        joined = _REFERENCES.sub(b"", joined)
    if _encoded_signature(joined):
        return True
    return any(found.kind.startswith("base64") for found in find_binary_images(joined))


def _first_encoded_image(joined: bytes) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for literal, kind in _BASE64_SIGNATURES:
        index = joined.find(literal)
        while index >= 0 and kind == "JPEG" and not _plausible_base64_jpeg(joined, index):
            index = joined.find(literal, index + 1)  # "/9j/" is only 24 bits: check the decoded markers
        if index >= 0 and (best is None or index < best[0]):
            best = (index, f"base64 {kind}")
    encoded = _encoded_signature(joined)
    if encoded and (best is None or encoded[0] < best[0]):
        best = encoded
    return best


_FROM_URL_SAFE = bytes.maketrans(b"-_", b"+/")
_JPEG_CHECK_CHARS = 1 << 17  # enough base64 to see past a 64 KB first segment


def _plausible_base64_jpeg(joined: bytes, index: int) -> bool:
    """Whether base64 at ``index`` decodes to a JPEG start (given the benefit of the doubt if it is cut)."""
    chunk = joined[index : index + _JPEG_CHECK_CHARS]
    chunk = chunk[: len(chunk) - len(chunk) % 4].translate(_FROM_URL_SAFE)
    try:
        decoded = base64.b64decode(chunk, validate=True)
    except (binascii.Error, ValueError):
        return True
    return looks_like_jpeg(decoded, 0, if_cut=True) if len(decoded) >= 3 else True


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
    found = list(find_binary_images(blob, tiff_headers))
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
