"""Previews hidden in a PNG's chunks (XMP in iTXt, EXIF in eXIf or in ImageMagick's hex "Raw profile"
text): re-rendered or removed, checked with exiftool and Pillow; other chunks kept byte for byte.
"""

from __future__ import annotations

import base64
import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trapblur import BlurOptions, blur_image
from trapblur.errors import PreviewError
from trapblur.png import Chunk, decode_raw_profile, decode_text, iter_chunks
from trapblur.results import Detection

from _metadata_support import (
    ORIGINAL_DATE, PERSON_BOX, assert_blurred_or_gone, b64_lines, exif_with_jpeg_thumbnail, exif_with_strip_thumbnail,
    exiftool_binary, exiftool_tags, iptc, itxt, photo, photoshop_thumbnail, png_bytes, png_chunk, preview_jpeg,
    raw_profile, resource, text_chunk, with_chunks, xmp_packet, ztxt,
)
from conftest import decode, detail_energy, jpeg_bytes

PERSON = [Detection("person", 0.9, PERSON_BOX)]
XMP_KEYWORD = b"XML:com.adobe.xmp"


def blur(data: bytes) -> bytes:
    return blur_image(data, PERSON, BlurOptions(padding=0))


def files(tmp_path: Path, original: bytes) -> tuple[Path, Path]:
    before, after = tmp_path / "before.png", tmp_path / "after.png"
    before.write_bytes(original)
    after.write_bytes(blur(original))
    return before, after


def camera_png(*chunks: bytes) -> bytes:
    return with_chunks(png_bytes(photo()), *chunks)


def texts(data: bytes) -> dict[bytes, bytes]:
    return {decode_text(c).keyword: decode_text(c).text for c in iter_chunks(data) if c.kind in (b"tEXt", b"zTXt", b"iTXt")}


def thumbnail_xmp(thumbnail: bytes) -> bytes:
    return xmp_packet(
        f"<xmp:Thumbnails><rdf:Alt><rdf:li rdf:parseType='Resource'><xmpGImg:format>JPEG</xmpGImg:format>"
        f"<xmpGImg:image>{b64_lines(thumbnail)}</xmpGImg:image></rdf:li></rdf:Alt></xmp:Thumbnails>",
        namespaces='xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:xmpGImg="http://ns.adobe.com/xap/1.0/g/img/"',
    )


@pytest.mark.parametrize("compressed", [False, True])
def test_xmp_thumbnail_in_itxt_is_removed(tmp_path: Path, compressed: bool) -> None:
    thumbnail = preview_jpeg(photo())
    before, after = files(tmp_path, camera_png(itxt(XMP_KEYWORD, thumbnail_xmp(thumbnail), compressed)))
    assert exiftool_binary(before, "XMP:ThumbnailImage") == thumbnail
    assert exiftool_binary(after, "XMP:ThumbnailImage") in (None, b"")
    assert exiftool_tags(after)["XMP-dc:Title"] == "Site B, camera 7"
    chunk = next(c for c in iter_chunks(after.read_bytes()) if c.kind == b"iTXt")
    assert (chunk.data[len(XMP_KEYWORD) + 1] == 1) == compressed  # written back the way it came


@pytest.mark.parametrize("kind", ["zTXt", "tEXt", "iTXt"])
def test_raw_profile_exif_thumbnail_is_rerendered(tmp_path: Path, kind: str) -> None:
    thumbnail = preview_jpeg(photo())
    profile = raw_profile("exif", exif_with_jpeg_thumbnail(thumbnail))
    keyword = b"Raw profile type exif"
    chunk = {"zTXt": ztxt(keyword, profile), "tEXt": text_chunk(keyword, profile), "iTXt": itxt(keyword, profile, True)}[kind]
    before, after = files(tmp_path, camera_png(chunk))
    assert exiftool_binary(before, "ThumbnailImage") == thumbnail  # exiftool decodes ImageMagick's hex
    assert assert_blurred_or_gone(thumbnail, exiftool_binary(after, "ThumbnailImage")) == "blurred"
    assert exiftool_tags(after)["ExifIFD:DateTimeOriginal"] == ORIGINAL_DATE[:-1].decode()
    old, new = texts(before.read_bytes())[keyword], texts(after.read_bytes())[keyword]
    assert len(old) == len(new)  # same hex layout, only the thumbnail's digits differ
    assert new[:200] == old[:200]


def test_raw_profile_app1_exif_and_8bim_thumbnail(tmp_path: Path) -> None:
    thumbnail = preview_jpeg(photo())
    stream = resource(0x0404, iptc((2, 120, b"site B"))) + resource(0x040C, photoshop_thumbnail(thumbnail))
    original = camera_png(
        ztxt(b"Raw profile type APP1", raw_profile("APP1", exif_with_jpeg_thumbnail(thumbnail))),
        ztxt(b"Raw profile type 8bim", raw_profile("8bim", stream)),
    )
    output = blur(original)
    profiles = {k: decode_raw_profile(v).data for k, v in texts(output).items()}
    app1 = profiles[b"Raw profile type APP1"]
    start = app1.index(b"\xff\xd8\xff")
    assert assert_blurred_or_gone(thumbnail, app1[start : app1.index(b"\xff\xd9", start) + 2]) == "blurred"
    eight_bim = profiles[b"Raw profile type 8bim"]
    assert b"\xff\xd8" not in eight_bim and b"site B" in eight_bim


def test_exif_chunk_with_uncompressed_thumbnail_is_rerendered(tmp_path: Path) -> None:
    rgb = np.asarray(photo().resize((80, 60)))
    exif = exif_with_strip_thumbnail(rgb)[6:]  # eXIf holds the TIFF structure itself
    output = blur(camera_png(png_chunk(b"eXIf", exif)))
    # exiftool 12.57 reads PNG strip offsets from the start of the file, so hand it the chunk's EXIF in a
    # JPEG, where it reads them right.
    new_exif = next(c.data for c in iter_chunks(output) if c.kind == b"eXIf")
    assert len(new_exif) == len(exif) and new_exif[:300] == exif[:300]
    carrier = tmp_path / "carrier.jpg"
    carrier.write_bytes(jpeg_bytes(photo(), exif=b"Exif\x00\x00" + new_exif))
    as_png = io.BytesIO()
    Image.fromarray(rgb).save(as_png, "PNG")
    assert assert_blurred_or_gone(as_png.getvalue(), exiftool_binary(carrier, "ThumbnailTIFF")) == "blurred"


def test_base64_image_in_a_comment_is_removed_and_other_chunks_kept() -> None:
    png = io.BytesIO()
    photo().resize((160, 120)).save(png, "PNG")
    comment = b"preview " + base64.b64encode(png.getvalue())
    kept = [text_chunk(b"Comment", b"site B, camera 7"), png_chunk(b"tIME", b"\x07\xe8\x05\x01\x06\x0c\x1e"),
            png_chunk(b"pHYs", b"\x00\x00\x0b\x13\x00\x00\x0b\x13\x01")]
    output = blur(camera_png(text_chunk(b"Description", comment), *kept))
    assert texts(output)[b"Description"] == b"preview "
    chunks = [c.to_bytes() for c in iter_chunks(output)]
    assert all(chunk in chunks for chunk in kept)


def test_pixels_are_blurred_and_an_unreadable_text_chunk_is_dropped() -> None:
    broken = png_chunk(b"zTXt", b"Comment\x00\x00" + b"not zlib at all")
    output = blur(camera_png(broken))
    assert b"not zlib" not in output
    a, b = decode(png_bytes(photo())), decode(output)
    inside = (slice(100, 380), slice(60, 250))
    assert detail_energy(b[inside]) < 0.05 * detail_energy(a[inside])


def test_png_preview_that_cannot_be_handled_is_withheld() -> None:
    gif = io.BytesIO()
    photo().resize((160, 120)).save(gif, "GIF")
    profile = raw_profile("vendor", b"VEND" + gif.getvalue())
    with pytest.raises(PreviewError, match="GIF"):
        blur(camera_png(ztxt(b"Raw profile type vendor", profile)))


def test_compressed_text_is_inflated_with_a_limit() -> None:
    bomb = zlib.compress(b"A" * (300 << 20), 9)  # 300 MB of text in 300 KB
    with pytest.raises(ValueError, match="too large"):
        decode_text(Chunk(b"zTXt", b"Comment\x00\x00" + bomb))
