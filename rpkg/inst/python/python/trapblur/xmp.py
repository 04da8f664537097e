"""XMP packets: remove the images they carry, keep everything else byte for byte.

Why this module exists
----------------------
XMP is XML, and writers spell the same thing many ways. A thumbnail is ``xmpGImg:image`` in today's
files, ``xapGImg:image`` in old ones, or any other prefix bound to the namespace
``http://ns.adobe.com/xap/1.0/g/img/``; as an element or an attribute, in double or single quotes; as
base64 broken into lines with white space or ``&#xA;`` references. Phones put whole JPEGs and PNGs in
XMP too (Google's ``GImage:Data``, ``GDepth:Data``, ``GDepth:Confidence``), usually in Extended XMP.

Two rules cover them all:

1. the value of every ``image`` property in the thumbnail namespace is emptied, whatever the prefix
   and whatever it holds (even base64 too broken to recognise);
2. every base64 or hex run anywhere in the packet that encodes an image (by its signature, see
   :mod:`trapblur.previews`) is removed.

Everything else in the packet is left exactly as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .previews import remove_text_images

IMAGE_NAMESPACE = b"http://ns.adobe.com/xap/1.0/g/img/"
_USUAL_PREFIXES = (b"xmpGImg", b"xapGImg")
_BINDING = re.compile(rb"xmlns:([A-Za-z_][\w.\-]*)\s*=\s*([\"'])" + re.escape(IMAGE_NAMESPACE) + rb"\2")


@dataclass(frozen=True)
class CleanedXmp:
    packet: bytes
    notes: tuple[str, ...]


def thumbnail_prefixes(packet: bytes) -> set[bytes]:
    """Prefixes that name the XMP thumbnail namespace in ``packet`` (plus the usual ones)."""
    return set(_USUAL_PREFIXES) | {match.group(1) for match in _BINDING.finditer(packet)}


def clean_xmp(packet: bytes, keep_length: bool = False) -> CleanedXmp:
    """``packet`` without thumbnails or embedded images; with ``keep_length``, blanked with spaces instead."""
    notes = []
    spans: list[tuple[int, int]] = []
    for prefix in thumbnail_prefixes(packet):
        name = re.escape(prefix) + rb":image"
        element = re.compile(rb"<" + name + rb"\b[^>]*?(?<!/)>(.*?)</" + name + rb"\s*>", re.DOTALL)
        attribute = re.compile(rb"(?<![\w:.\-])" + name + rb"\s*=\s*([\"'])(.*?)\1", re.DOTALL)
        spans.extend(m.span(1) for m in element.finditer(packet) if m.end(1) > m.start(1))
        spans.extend(m.span(2) for m in attribute.finditer(packet) if m.end(2) > m.start(2))
    if spans:
        packet = _blank(packet, spans, keep_length)
        notes.append("XMP thumbnail removed")
    packet, count = remove_text_images(packet, keep_length)
    if count:
        notes.append(f"{count} image(s) embedded in XMP removed")
    return CleanedXmp(packet, tuple(notes))


def _blank(packet: bytes, spans: list[tuple[int, int]], keep_length: bool) -> bytes:
    out = bytearray()
    last = 0
    for start, end in sorted(spans):
        if end <= last:  # inside a span already blanked
            continue
        start = max(start, last)
        out += packet[last:start]
        if keep_length and end > start:
            out += b" " * (end - start)
        last = max(last, end)
    out += packet[last:]
    return bytes(out)
