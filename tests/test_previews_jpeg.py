"""Previews hidden in a JPEG's metadata: each is re-rendered from the blurred image, removed, or the image
is withheld. Every case is built byte by byte here, blurred by trapblur, then read back by exiftool (an
independent reader) and Pillow: the person region of each preview must have lost its detail, or the
preview must be gone; and the rest of the metadata must be byte for byte what it was.
"""

from __future__ import annotations

import base64
import csv
import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trapblur import BlurOptions, blur_image
from trapblur.cli import main
from trapblur.errors import PreviewError
from trapblur.pipeline import REPORT_NAME
from trapblur.results import Detection

from _metadata_support import (
    EXTENDED_HEADER, ORIGINAL_DATE, XMP_HEADER, assert_blurred_or_gone, b64_lines, exif_with_jpeg_thumbnail,
    exif_with_maker_note, exif_with_strip_thumbnail, exiftool_binary, exiftool_tags, extended_xmp_segments, iptc,
    photo, photoshop_segments, photoshop_thumbnail, preview_jpeg, preview_png, resource, segment, tiff_structure,
    with_segments,
    PERSON_BOX,
)
from conftest import jpeg_bytes, person, segments_of, write_md

PERSON = [Detection("person", 0.9, PERSON_BOX)]
MODES = ["lossless", "reencode"]


def blur(data: bytes, jpeg_mode: str = "lossless") -> bytes:
    return blur_image(data, PERSON, BlurOptions(padding=0), jpeg_mode=jpeg_mode)


def files(tmp_path: Path, original: bytes, jpeg_mode: str = "lossless") -> tuple[Path, Path]:
    before, after = tmp_path / "before.jpg", tmp_path / "after.jpg"
    before.write_bytes(original)
    after.write_bytes(blur(original, jpeg_mode))
    return before, after


def camera_jpeg(*segments: bytes, exif: bytes | None = None, image: Image.Image | None = None) -> bytes:
    image = image or photo()
    base = jpeg_bytes(image, quality=90, **({"exif": exif} if exif else {}))
    return with_segments(base, *segments)


def payloads(data: bytes, marker: int, prefix: bytes = b"") -> list[bytes]:
    return [s[4:] for s in segments_of(data) if s[1] == marker and s[4:].startswith(prefix)]


# ----------------------------------------------------------------------------------------------------------
# EXIF


@pytest.mark.parametrize("jpeg_mode", MODES)
def test_exif_thumbnail_without_end_marker_is_rerendered(tmp_path: Path, jpeg_mode: str) -> None:
    thumbnail = preview_jpeg(photo())
    cut = thumbnail[:-2]  # no EOI: the old scanner skipped JPEGs it could not parse
    before, after = files(tmp_path, camera_jpeg(exif=exif_with_jpeg_thumbnail(cut)), jpeg_mode)
    assert exiftool_binary(before, "ThumbnailImage") == cut
    assert assert_blurred_or_gone(thumbnail, exiftool_binary(after, "ThumbnailImage")) == "blurred"
    tags = exiftool_tags(after)
    assert tags["ExifIFD:DateTimeOriginal"] == ORIGINAL_DATE[:-1].decode()
    assert tags["GPS:GPSLatitude"] == pytest.approx(45.50430555, abs=1e-6)


def test_exif_thumbnail_longer_than_declared_is_overwritten_to_its_end(tmp_path: Path) -> None:
    thumbnail = preview_jpeg(photo())
    exif = exif_with_jpeg_thumbnail(thumbnail, declared_length=len(thumbnail) // 3)  # a length that lies
    output = blur(camera_jpeg(exif=exif))
    app1 = payloads(output, 0xE1, b"Exif")[0]
    assert thumbnail[len(thumbnail) // 2 :] not in app1
    assert app1.count(b"\xff\xd8\xff") == 1  # the re-rendered preview only


@pytest.mark.parametrize("jpeg_mode", MODES)
def test_uncompressed_strip_thumbnail_is_rerendered(tmp_path: Path, jpeg_mode: str) -> None:
    rgb = np.asarray(photo().resize((80, 60)))
    before, after = files(tmp_path, camera_jpeg(exif=exif_with_strip_thumbnail(rgb)), jpeg_mode)
    old = exiftool_binary(before, "ThumbnailTIFF")
    new = exiftool_binary(after, "ThumbnailTIFF")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(old))), rgb)
    as_png = io.BytesIO()
    Image.fromarray(rgb).save(as_png, "PNG")
    assert assert_blurred_or_gone(as_png.getvalue(), new) == "blurred"
    assert exiftool_tags(after)["ExifIFD:DateTimeOriginal"] == ORIGINAL_DATE[:-1].decode()


def test_maker_note_preview_without_end_marker_is_rerendered_in_place() -> None:
    preview = preview_jpeg(photo(), (320, 240))
    note = b"Nikon\x00\x02\x00\x00\x00" + preview[:-2] + b"more maker note bytes"
    original = camera_jpeg(exif=exif_with_maker_note(note))
    output = blur(original)
    old, new = payloads(original, 0xE1, b"Exif")[0], payloads(output, 0xE1, b"Exif")[0]
    assert len(old) == len(new)  # in place: no offset in the EXIF moves
    start = old.index(preview[:64])
    assert new[:start] == old[:start]  # IFDs, dates, the maker note's header: byte for byte
    rendered = new[start:]
    end = rendered.index(b"\xff\xd9") + 2
    assert assert_blurred_or_gone(preview, rendered[:end]) == "blurred"


def test_real_camera_thumbnails_are_blurred_and_the_rest_kept(shared_images: Path, tmp_path: Path) -> None:
    for name in ("person_animlr_Peru_S90_SDZG2_EK000008.JPG", "animal_md_idaho-camera-traps.jpg"):
        before = shared_images / name
        after = tmp_path / name
        after.write_bytes(blur(before.read_bytes()))
        old = exiftool_binary(before, "ThumbnailImage")
        assert old, name
        assert assert_blurred_or_gone(old, exiftool_binary(after, "ThumbnailImage")) == "blurred", name
        old_tags, new_tags = exiftool_tags(before), exiftool_tags(after)
        kept = [k for k in old_tags if k.split(":")[0] not in ("SourceFile", "System", "File", "ExifTool", "Composite")]
        assert any(k.startswith("ExifIFD:DateTimeOriginal") for k in kept) and len(kept) > 40
        assert {k: new_tags.get(k) for k in kept} == {k: old_tags[k] for k in kept}, name


# ----------------------------------------------------------------------------------------------------------
# XMP


def xmp_segment(packet: bytes) -> bytes:
    return segment(0xE1, XMP_HEADER + packet)


def xmp_thumbnail_packet(spelling: str, thumbnail: bytes) -> bytes:
    """XMP with a thumbnail written the way ``spelling`` says (old prefix, other prefix, quotes, breaks)."""
    b64 = b64_lines(thumbnail)
    if spelling == "xapGImg element":
        return xmp_packet_with("xmlns:xapGImg='http://ns.adobe.com/xap/1.0/g/img/' xmlns:xap='http://ns.adobe.com/xap/1.0/'",
                               f"<xap:Thumbnails><rdf:Alt><rdf:li rdf:parseType='Resource'><xapGImg:format>JPEG</xapGImg:format>"
                               f"<xapGImg:image>{b64}</xapGImg:image></rdf:li></rdf:Alt></xap:Thumbnails>")
    if spelling == "other prefix, single-quoted attribute":
        return xmp_packet_with("xmlns:t='http://ns.adobe.com/xap/1.0/g/img/' xmlns:xmp='http://ns.adobe.com/xap/1.0/'",
                               f"<xmp:Thumbnails><rdf:Alt><rdf:li t:format='JPEG' t:width='160' t:image='{b64}'/></rdf:Alt></xmp:Thumbnails>")
    if spelling == "signature split by a line break":
        text = base64.b64encode(thumbnail).decode()
        b64 = text[:2] + "&#xA;" + text[2:5] + "\n   " + text[5:]
        return xmp_packet_with('xmlns:xmpGImg="http://ns.adobe.com/xap/1.0/g/img/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
                               f"<xmp:Thumbnails><rdf:Alt><rdf:li xmpGImg:image=\"{b64}\"/></rdf:Alt></xmp:Thumbnails>")
    raise AssertionError(spelling)


def xmp_packet_with(namespaces: str, body: str) -> bytes:
    from _metadata_support import xmp_packet

    return xmp_packet(body, namespaces=namespaces)


@pytest.mark.parametrize(
    "spelling", ["xapGImg element", "other prefix, single-quoted attribute", "signature split by a line break"]
)
def test_xmp_thumbnails_in_any_spelling_are_removed(tmp_path: Path, spelling: str) -> None:
    thumbnail = preview_jpeg(photo())
    packet = xmp_thumbnail_packet(spelling, thumbnail)
    before, after = files(tmp_path, camera_jpeg(xmp_segment(packet)))
    assert exiftool_binary(before, "XMP:ThumbnailImage") == thumbnail  # exiftool reads this spelling
    assert exiftool_binary(after, "XMP:ThumbnailImage") in (None, b"")
    after_packet = payloads(after.read_bytes(), 0xE1, XMP_HEADER)[0][len(XMP_HEADER) :]
    assert base64.b64encode(thumbnail)[:40] not in after_packet.replace(b"&#xA;", b"").replace(b"\n", b"").replace(b" ", b"")
    assert exiftool_tags(after)["XMP-dc:Title"] == "Site B, camera 7"
    assert len(after_packet) < len(packet)


def test_base64_png_under_an_unknown_namespace_is_removed(tmp_path: Path) -> None:
    png = preview_png(photo())
    packet = xmp_packet_with('xmlns:cam="http://example.org/camera-trap/1.0/"',
                             f"<cam:Preview>{b64_lines(png, 64, chr(10))}</cam:Preview><cam:Site>B</cam:Site>")
    output = blur(camera_jpeg(xmp_segment(packet)))
    after_packet = payloads(output, 0xE1, XMP_HEADER)[0]
    assert b"iVBORw0KGgo" not in after_packet
    assert b"<cam:Preview></cam:Preview><cam:Site>B</cam:Site>" in after_packet


def test_extended_xmp_depth_and_portrait_images_split_over_segments_are_removed(tmp_path: Path) -> None:
    depth = preview_png(photo().convert("L"), (160, 120))
    portrait = preview_jpeg(photo(), (320, 240))
    extended = xmp_packet_with(
        'xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" xmlns:GImage="http://ns.google.com/photos/1.0/image/"',
        f'<rdf:Description GDepth:Format="RangeInverse" GDepth:Data="{b64_lines(depth)}" '
        f'GImage:Mime="image/jpeg" GImage:Data="{base64.b64encode(portrait).decode()}"/>',
    )
    guid, chunks = extended_xmp_segments(extended, chunk=7001)  # splits inside the base64, at odd bytes
    assert len(chunks) >= 3
    main = xmp_packet_with('xmlns:xmpNote="http://ns.adobe.com/xmp/note/"', f"<xmpNote:HasExtendedXMP>{guid.decode()}</xmpNote:HasExtendedXMP>")
    before, after = files(tmp_path, camera_jpeg(xmp_segment(main), *chunks))
    assert exiftool_binary(before, "XMP-GDepth:DepthImage") == depth  # exiftool reassembles it
    assert exiftool_binary(before, "XMP-GImage:ImageData") == portrait
    assert exiftool_binary(after, "XMP-GDepth:DepthImage") in (None, b"")
    assert exiftool_binary(after, "XMP-GImage:ImageData") in (None, b"")
    tags = exiftool_tags(after)
    assert tags["XMP-GDepth:Format"] == "RangeInverse"  # the rest of the Extended XMP is still read
    assert "ExifTool:Warning" not in tags
    output = after.read_bytes()
    new_guid = payloads(output, 0xE1, EXTENDED_HEADER)[0][35:67]
    assert new_guid != guid and new_guid in payloads(output, 0xE1, XMP_HEADER)[0]


def test_incomplete_extended_xmp_is_removed() -> None:
    extended = xmp_packet_with('xmlns:GImage="http://ns.google.com/photos/1.0/image/"',
                               f'<rdf:Description GImage:Data="{base64.b64encode(preview_jpeg(photo())).decode()}"/>')
    _, chunks = extended_xmp_segments(extended, chunk=3000)
    output = blur(camera_jpeg(*chunks[:-1]))  # one chunk missing
    assert not payloads(output, 0xE1, EXTENDED_HEADER)


# ----------------------------------------------------------------------------------------------------------
# Photoshop, JUMBF, JFIF, unknown segments


def test_photoshop_thumbnail_split_over_app13_segments_is_removed_and_iptc_kept(tmp_path: Path) -> None:
    thumbnail = preview_jpeg(photo())
    iptc_data = iptc((2, 0, b"\x00\x04"), (2, 25, b"hiker"), (2, 120, b"site B, camera 7"))
    stream = resource(0x0404, iptc_data) + resource(0x040C, photoshop_thumbnail(thumbnail)) + resource(0x03ED, b"\x00\x48" * 8)
    split = len(resource(0x0404, iptc_data)) + 40 + 3  # inside the thumbnail's JPEG, at an odd byte
    before, after = files(tmp_path, camera_jpeg(*photoshop_segments(stream, split)))
    assert exiftool_binary(before, "Photoshop:PhotoshopThumbnail") == thumbnail
    assert exiftool_binary(after, "Photoshop:PhotoshopThumbnail") in (None, b"")
    old, new = exiftool_tags(before), exiftool_tags(after)
    assert new["IPTC:Keywords"] == old["IPTC:Keywords"] == "hiker"
    assert new["IPTC:Caption-Abstract"] == "site B, camera 7"
    assert exiftool_binary(after, "IPTC:Caption-Abstract").rstrip(b"\n") == b"site B, camera 7"
    assert iptc_data in after.read_bytes()  # byte for byte


def test_iptc_object_preview_is_removed() -> None:
    preview = preview_jpeg(photo())
    iptc_data = iptc((2, 0, b"\x00\x04"), (2, 120, b"site B"), (2, 200, b"\x00\x0b"), (2, 202, preview))
    output = blur(camera_jpeg(*photoshop_segments(resource(0x0404, iptc_data), 30)))
    joined = b"".join(p[14:] for p in payloads(output, 0xED, b"Photoshop 3.0"))
    assert preview[:200] not in joined and b"site B" in joined


def test_c2pa_jumbf_split_over_app11_segments_is_removed(tmp_path: Path) -> None:
    thumbnail = preview_jpeg(photo())
    box = struct.pack(">I", 8 + 17 + len(thumbnail)) + b"jumb" + struct.pack(">I", 17) + b"jumd" + b"c2pa.thumbnail" + b"\x00" * 3 + thumbnail
    parts = [box[:500], box[500:]]
    segments = [segment(0xEB, b"JP" + struct.pack(">HI", 1, n + 1) + (box[:8] if n else b"") + part) for n, part in enumerate(parts)]
    before, after = files(tmp_path, camera_jpeg(*segments))
    assert thumbnail[600:700] in before.read_bytes()
    assert not payloads(after.read_bytes(), 0xEB)
    assert thumbnail[600:700] not in after.read_bytes()


def test_jfif_rgb_thumbnail_is_rerendered() -> None:
    rgb = np.asarray(photo().resize((32, 24)))
    jfif = b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01" + bytes((32, 24)) + rgb.tobytes()
    base = jpeg_bytes(photo(), quality=90)
    original = base[:2] + segment(0xE0, jfif) + base[2 + 2 + struct.unpack_from(">H", base, 4)[0] :]
    output = blur(original)
    payload = payloads(output, 0xE0, b"JFIF")[0]
    new = np.frombuffer(payload[14:], np.uint8).reshape(24, 32, 3)
    as_png = io.BytesIO()
    Image.fromarray(rgb).save(as_png, "PNG")
    fresh = io.BytesIO()
    Image.fromarray(new).save(fresh, "PNG")
    assert assert_blurred_or_gone(as_png.getvalue(), fresh.getvalue()) == "blurred"


def test_preview_split_at_an_awkward_byte_over_unknown_segments_is_rerendered() -> None:
    preview = preview_jpeg(photo(), (320, 240))
    # A vendor segment kind (APP4 "PREVIEW\0") holding a JPEG split between SOI's two bytes.
    segments = [segment(0xE4, b"PREVIEW\x00" + preview[:1]), segment(0xE4, b"PREVIEW\x00" + preview[1:])]
    output = blur(camera_jpeg(*segments))
    joined = b"".join(p[8:] for p in payloads(output, 0xE4, b"PREVIEW"))
    assert len(joined) == len(preview)
    end = joined.index(b"\xff\xd9") + 2
    assert assert_blurred_or_gone(preview, joined[:end]) == "blurred"


def test_an_image_that_cannot_be_rerendered_or_removed_is_withheld() -> None:
    gif = io.BytesIO()
    photo().resize((160, 120)).save(gif, "GIF")
    original = camera_jpeg(segment(0xE5, b"VENDOR\x00" + gif.getvalue()))
    with pytest.raises(PreviewError, match="APP5 segment holds an embedded GIF"):
        blur(original)


def test_comments_icc_and_other_metadata_stay_byte_for_byte() -> None:
    icc = segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + bytes(range(256)) * 4)
    comment = segment(0xFE, b"site B, camera 7, 2024-05-01")
    ducky = segment(0xEC, b"Ducky\x00\x01\x00\x04\x00\x00\x00\x50\x00\x00")
    thumbnail = preview_jpeg(photo())
    original = camera_jpeg(icc, comment, ducky, exif=exif_with_jpeg_thumbnail(thumbnail))
    output = blur(original)
    before, after = segments_of(original), segments_of(output)
    assert len(before) == len(after)
    for old, new in zip(before, after):
        if old[4:8] == b"Exif":
            assert len(old) == len(new)
            start = old.index(thumbnail[:32])
            assert old[:start] == new[:start]  # every IFD, date and GPS byte
        else:
            assert old == new


def test_trapblur_blur_withholds_the_image_whose_preview_cannot_be_handled(tmp_path: Path) -> None:
    images = tmp_path / "cams"
    images.mkdir()
    gif = io.BytesIO()
    photo().resize((160, 120)).save(gif, "GIF")
    (images / "vendor.jpg").write_bytes(camera_jpeg(segment(0xE5, b"VENDOR\x00" + gif.getvalue())))
    thumbnail = preview_jpeg(photo())
    (images / "camera.jpg").write_bytes(camera_jpeg(exif=exif_with_jpeg_thumbnail(thumbnail[:-2])))
    box = list(PERSON_BOX)
    results = write_md(tmp_path / "md.json", [{"file": n, "detections": [person(box)]} for n in ("vendor.jpg", "camera.jpg")])
    out = tmp_path / "out"
    assert main(["blur", str(images), "--results", str(results), "--out", str(out), "-q"]) == 1
    with (out / REPORT_NAME).open() as stream:
        rows = {row["input"]: row for row in csv.DictReader(stream)}
    assert rows["vendor.jpg"]["action"] == "withheld"
    assert "APP5 segment holds an embedded GIF" in rows["vendor.jpg"]["reason"]
    assert not (out / "vendor.jpg").exists()
    assert rows["camera.jpg"]["action"] == "blurred"
    assert "EXIF thumbnail re-rendered from the blurred image" in rows["camera.jpg"]["reason"]
    assert assert_blurred_or_gone(thumbnail, exiftool_binary(out / "camera.jpg", "ThumbnailImage")) == "blurred"


def test_xmp_under_another_signature_is_cleaned_too() -> None:
    thumbnail = preview_jpeg(photo())
    packet = xmp_thumbnail_packet("xapGImg element", thumbnail)
    output = blur(camera_jpeg(segment(0xE1, b"XMP\x00://ns.adobe.com/xap/1.0/\x00" + packet)))  # old Adobe spelling
    app1 = payloads(output, 0xE1, b"XMP\x00")[0]
    assert b"Site B, camera 7" in app1 and b"/9j/" not in app1.replace(b"&#xA;", b"")


def test_big_endian_exif_thumbnail_without_length_is_found_and_rerendered(tmp_path: Path) -> None:
    thumbnail = preview_jpeg(photo())
    date = b"2024:05:01 06:12:30\x00"
    ifd0 = [(0x0132, 2, len(date), date), (0x8769, 4, 1, b"@ifd:1")]
    exif_ifd = [(0x9003, 2, len(date), date)]
    ifd1 = [(0x0103, 3, 1, struct.pack(">H", 6)), (0x0201, 4, 1, b"@blob:0")]  # no JPEGInterchangeFormatLength
    exif = b"Exif\x00\x00" + tiff_structure([ifd0, exif_ifd, ifd1], thumbnail[:-2], chain=(0, 2), order=">")
    before, after = files(tmp_path, camera_jpeg(exif=exif))
    assert exiftool_tags(before)["File:ExifByteOrder"] == "MM"
    new = payloads(after.read_bytes(), 0xE1, b"Exif")[0]
    start = new.index(b"\xff\xd8\xff")
    assert assert_blurred_or_gone(thumbnail, new[start : new.index(b"\xff\xd9", start) + 2]) == "blurred"
    assert exiftool_tags(after)["ExifIFD:DateTimeOriginal"] == date[:-1].decode()
