"""The audit that runs on every blurred output before it is written: it finds embedded images in any
encoding, is not fooled by random bytes, and refuses an output carrying an image it did not render.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from trapblur import jpeg_metadata, png, tiff
from trapblur.errors import PreviewError
from trapblur.jpeg import embedded_jpeg_extent, looks_like_jpeg
from trapblur.previews import find_binary_images, find_text_images, remove_text_images

from _metadata_support import (
    exif_with_jpeg_thumbnail, itxt, photo, png_bytes, preview_jpeg, preview_png, segment, tiff_structure, short, long,
    with_chunks, with_segments,
)
from conftest import jpeg_bytes


def images_of_kind(*save: str) -> dict[str, bytes]:
    picture = photo().resize((64, 48))
    out = {}
    for kind in save:
        buffer = io.BytesIO()
        picture.save(buffer, kind)
        out[kind] = buffer.getvalue()
    return out


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "JPEG2000"])
def test_every_format_is_found_raw_and_in_base64(kind: str) -> None:
    image = images_of_kind(kind)[kind]
    wrapped = b"vendor data \x00\x01\x02" + image + b"\x00 more"
    found = list(find_binary_images(wrapped, tiff_headers=True))
    assert any(f.offset == 15 for f in found), found
    text = b"<x:Data>" + base64.b64encode(image) + b"</x:Data>"
    assert [f.offset for f in find_text_images(text)] == [8]


@pytest.mark.parametrize("separator", [b"&#xA;", b"&#10;", b"\n", b"\r\n  ", b" "])
def test_base64_broken_anywhere_is_found_and_removed(separator: bytes) -> None:
    encoded = base64.b64encode(preview_jpeg(photo()))
    broken = separator.join(encoded[i : i + 3] for i in range(0, len(encoded), 3))  # even inside "/9j/"
    text = b"<a>keep</a><b>" + broken + b"</b><c>also kept</c>"
    cleaned, count = remove_text_images(text)
    assert count == 1 and cleaned == b"<a>keep</a><b></b><c>also kept</c>"
    same_length, _ = remove_text_images(text, keep_length=True)
    assert len(same_length) == len(text) and same_length.startswith(b"<a>keep</a><b>   ")


def test_hex_url_safe_and_utf16_encodings_are_found() -> None:
    jpeg = preview_jpeg(photo())
    assert list(find_text_images(b"<p>" + jpeg.hex().upper().encode() + b"</p>"))
    assert list(find_text_images(b"<p>" + base64.urlsafe_b64encode(jpeg) + b"</p>"))
    assert list(find_text_images(b"preview " + base64.b64encode(preview_png(photo()))))
    utf16 = ("<p>" + base64.b64encode(jpeg).decode() + "</p>").encode("utf-16-le")
    assert any(f.kind.startswith("UTF-16") for f in find_binary_images(utf16))


def test_random_bytes_and_ordinary_text_are_not_images() -> None:
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, 4 << 20, dtype=np.uint8).tobytes()
    assert not list(find_binary_images(noise, tiff_headers=True))
    assert not list(find_text_images(base64.b64encode(noise[: 1 << 20])))  # 1.3 MB of non-image base64
    prose = b"<dc:description>Two hikers at 06:12, camera 7 facing north-east; MMXXIV. ffd8 is a hex word.</dc:description>"
    assert not list(find_text_images(prose * 200))


def test_a_jpeg_start_needs_two_chained_markers() -> None:
    jpeg = preview_jpeg(photo())
    assert looks_like_jpeg(jpeg, 0)
    assert not looks_like_jpeg(b"\xff\xd8\xff\xe0\x00\x10" + b"\x00" * 40, 0)  # first segment leads nowhere
    assert not looks_like_jpeg(b"\xff\xd8\xff\x00\x00\x10" + b"\x00" * 40, 0)


def test_the_extent_of_a_broken_jpeg_covers_all_its_data() -> None:
    jpeg = preview_jpeg(photo())
    assert embedded_jpeg_extent(jpeg + b"junk", 0).end == len(jpeg)
    cut = jpeg[:-2] + b"ABC\xff\x12rest"  # no end marker; the scan stops at the first unstuffed FF
    extent = embedded_jpeg_extent(cut, 0)
    assert not extent.complete and extent.end == len(jpeg) - 2 + 3
    assert (extent.width, extent.height) == (160, 120)
    assert embedded_jpeg_extent(jpeg[: len(jpeg) // 2], 0).end == len(jpeg) // 2


def test_jpeg_audit_refuses_a_preview_it_did_not_render() -> None:
    thumbnail = preview_jpeg(photo())
    output = jpeg_bytes(photo(), exif=exif_with_jpeg_thumbnail(thumbnail))
    with pytest.raises(PreviewError, match="APP1 EXIF segment"):
        jpeg_metadata.audit(output, [])
    jpeg_metadata.audit(output, [thumbnail])  # a preview the renderer drew passes


def test_jpeg_audit_sees_a_signature_split_between_segments() -> None:
    preview = preview_jpeg(photo())
    base = jpeg_bytes(photo())
    split = with_segments(base, segment(0xE9, b"X" + preview[:2]), segment(0xE9, b"X" + preview[2:]))
    with pytest.raises(PreviewError, match="APP9 segments"):
        jpeg_metadata.audit(split, [])
    header_split = with_segments(base, segment(0xE9, b"P\x00" + preview[:100]), segment(0xE9, b"P\x01" + preview[100:]))
    with pytest.raises(PreviewError, match="APP9 segment"):
        jpeg_metadata.audit(header_split, [])
    inside_marker = with_segments(base, segment(0xE9, b"P\x00" + preview[:1]), segment(0xE9, b"P\x01" + preview[1:]))
    with pytest.raises(PreviewError, match="split across segments"):
        jpeg_metadata.audit(inside_marker, [])
    jpeg_metadata.audit(with_segments(base, segment(0xE9, b"nothing to see"), segment(0xE9, b"\xff\xff\xff")), [])


def test_jpeg_audit_refuses_raw_thumbnail_strips_it_did_not_render() -> None:
    strips = bytes(range(256)) * 30
    ifd0 = [(0x0132, 2, 20, b"2024:05:01 06:12:30\x00")]
    ifd1 = [(0x0100, 3, 1, short(80)), (0x0101, 3, 1, short(32)), (0x0111, 4, 1, b"@blob:0"), (0x0117, 4, 1, long(len(strips)))]
    exif = b"Exif\x00\x00" + tiff_structure([ifd0, ifd1], strips, chain=(0, 1))
    with pytest.raises(PreviewError, match="strips of EXIF IFD1"):
        jpeg_metadata.audit(jpeg_bytes(photo(), exif=exif), [])


def test_png_and_tiff_audits_read_compressed_and_tagged_payloads() -> None:
    base64_jpeg = base64.b64encode(preview_jpeg(photo()))
    with pytest.raises(PreviewError, match="iTXt"):
        png.audit(with_chunks(png_bytes(photo()), itxt(b"XML:com.adobe.xmp", b"<x>" + base64_jpeg + b"</x>", True)), [])
    layout = [(256, 3, 1, short(4)), (257, 3, 1, short(4)), (258, 3, 1, short(8)), (259, 3, 1, short(1)),
              (262, 3, 1, short(1)), (273, 4, 1, b"@blob:0"), (277, 3, 1, short(1)), (279, 4, 1, long(16))]
    clean = tiff_structure([layout], bytes(16))
    tiff.audit(clean, [])
    tagged = tiff_structure([layout + [(270, 2, len(base64_jpeg) + 1, base64_jpeg + b"\x00")]], bytes(16))
    with pytest.raises(PreviewError, match="TIFF tag 270"):
        tiff.audit(tagged, [])
    two_pages = tiff_structure([layout, layout], bytes(16), chain=(0, 1))
    with pytest.raises(PreviewError, match="IFD1"):
        tiff.audit(two_pages, [])


def test_jfif_thumbnail_in_the_output_is_refused() -> None:
    rgb = np.asarray(Image.new("RGB", (8, 6), (200, 10, 10))).tobytes()
    base = jpeg_bytes(photo())
    jfif = segment(0xE0, b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01" + bytes((8, 6)) + rgb)
    output = base[:2] + jfif + base[2 + 2 + int.from_bytes(base[4:6], "big") :]
    with pytest.raises(PreviewError, match="JFIF"):
        jpeg_metadata.audit(output, [])


@pytest.mark.parametrize("template", [
    "<xmpGImg:image><![CDATA[{b64}]]></xmpGImg:image>",
    '<image xmlns="http://ns.adobe.com/xap/1.0/g/img/">{b64}</image>',
    '<foo:Icon rdf:resource="data:image/jpeg;base64,{b64}"/>',
    "<x:a>{tabbed}</x:a>",
    "<x:h>{spaced_hex}</x:h>",
])
def test_xmp_cleaner_removes_images_in_other_shapes(template: str) -> None:
    from trapblur.xmp import clean_xmp

    from _metadata_support import xmp_packet

    jpeg = preview_jpeg(photo())
    b64 = base64.b64encode(jpeg).decode()
    body = template.format(b64=b64, tabbed="\t".join(b64[i : i + 60] for i in range(0, len(b64), 60)),
                           spaced_hex=" ".join(jpeg.hex()[i : i + 2] for i in range(0, 800, 2)))
    packet = xmp_packet(body)
    cleaned = clean_xmp(packet)
    assert cleaned.notes and not list(find_text_images(cleaned.packet))
    assert b"Site B, camera 7" in cleaned.packet and len(cleaned.packet) < len(packet) - 200
