"""TIFF metadata: dates, GPS, IPTC and XMP kept as JPEG and PNG keep theirs; previews (XMP and Photoshop
thumbnails, SubIFDs, further IFDs, layer data) removed; any compression, either byte order; nothing on
stderr. Read back with exiftool and Pillow.
"""

from __future__ import annotations

import base64
import io
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trapblur import BlurOptions, blur_image
from trapblur.errors import PreviewError
from trapblur.results import Detection

from _metadata_support import (
    DATE, GPS_LATITUDE, ORIGINAL_DATE, PERSON_BOX, assert_blurred_or_gone, b64_lines, exiftool_binary, exiftool_path,
    exiftool_tags, iptc, photo, photoshop_thumbnail, preview_jpeg, resource, short, long, tiff_structure, xmp_packet,
)
from conftest import REPO, detail_energy, person, write_md

PERSON = [Detection("person", 0.9, PERSON_BOX)]
# Padded to 40 bytes (10 LONGs), as writers that declare IPTC as LONG do.
IPTC_DATA = iptc((2, 0, b"\x00\x04"), (2, 25, b"hiker"), (2, 120, b"site B, camera 7")) + b"\x00\x00"


def pillow_strips(image: Image.Image, compression: str) -> tuple[list[tuple[int, int, int, bytes]], bytes, list[int]]:
    """Pillow's encoding of ``image``: its layout entries (without strip pointers), strip data, strip sizes."""
    buffer = io.BytesIO()
    image.save(buffer, "TIFF", compression=compression)
    encoded = Image.open(io.BytesIO(buffer.getvalue()))
    tags = encoded.tag_v2
    data = buffer.getvalue()
    strips = [data[o : o + n] for o, n in zip(tags[273], tags[279])]
    layout = [
        (256, 3, 1, short(image.width)), (257, 3, 1, short(image.height)), (258, 3, 3, short(8) * 3),
        (259, 3, 1, short(tags[259])), (262, 3, 1, short(2)), (277, 3, 1, short(3)), (278, 3, 1, short(tags[278])),
        (284, 3, 1, short(1)),
    ]
    if 317 in tags:
        layout.append((317, 3, 1, short(tags[317])))
    return layout, b"".join(strips), [len(s) for s in strips]


def camera_tiff(compression: str = "tiff_lzw", extra_ifd0: list | None = None, extra_ifds: list | None = None,
                chain: tuple[int, ...] = (0,), blob_after: bytes = b"", extra_exif: list | None = None) -> bytes:
    """A TIFF written entry by entry: Pillow's strips, then IFD0 with descriptive tags, IPTC as LONG (as
    exiftool and Photoshop write it), an ExifIFD (DateTimeOriginal), a GPS IFD, and ``extra_*``.

    In extra entries, ``b"@after:N"`` is the offset of byte N of ``blob_after``.
    """
    layout, strips, sizes = pillow_strips(photo(), compression)
    offsets = ",".join(str(sum(sizes[:i])) for i in range(len(sizes))).encode()
    ifd0 = layout + [
        (273, 4, len(sizes), b"@blob:" + offsets), (279, 4, len(sizes), struct.pack(f"<{len(sizes)}I", *sizes)),
        (270, 2, 16, b"camera 7 site B\x00"), (271, 2, 8, b"Reconyx\x00"), (306, 2, len(DATE), DATE),
        (282, 5, 1, struct.pack("<II", 300, 1)), (283, 5, 1, struct.pack("<II", 300, 1)), (296, 3, 1, short(2)),
        (33723, 4, len(IPTC_DATA) // 4, IPTC_DATA), (34665, 4, 1, b"@ifd:1"), (34853, 4, 1, b"@ifd:2"),
    ] + (extra_ifd0 or [])
    exif_ifd = [(0x9003, 2, len(ORIGINAL_DATE), ORIGINAL_DATE), (0x9286, 7, 16, b"ASCII\x00\x00\x00hello!!!")]
    gps = [(0x0001, 2, 2, b"N\x00"), (0x0002, 5, 3, GPS_LATITUDE)]

    def resolve(entries: list) -> list:
        return [(t, k, c, b"@blob:%d" % (len(strips) + int(v[7:])) if v.startswith(b"@after:") else v) for t, k, c, v in entries]

    ifds = [resolve(ifd0), resolve(exif_ifd + (extra_exif or [])), gps] + [resolve(i) for i in extra_ifds or []]
    return tiff_structure(ifds, strips + blob_after, chain=chain)


def blur(data: bytes) -> bytes:
    return blur_image(data, PERSON, BlurOptions(padding=0))


def check_pixels(original: bytes, output: bytes) -> None:
    a = np.asarray(Image.open(io.BytesIO(original)).convert("RGB")).astype(np.uint8)
    b = np.asarray(Image.open(io.BytesIO(output)).convert("RGB")).astype(np.uint8)
    assert np.array_equal(a[:, 320:], b[:, 320:])  # lossless outside the box (x 32-288)
    inside = (slice(100, 380), slice(60, 250))
    assert detail_energy(b[inside]) < 0.05 * detail_energy(a[inside])


KEPT = ["IFD0:ImageDescription", "IFD0:Make", "IFD0:ModifyDate", "IFD0:XResolution", "IFD0:ResolutionUnit",
        "ExifIFD:DateTimeOriginal", "ExifIFD:UserComment", "GPS:GPSLatitudeRef", "GPS:GPSLatitude", "IPTC:Keywords",
        "IPTC:Caption-Abstract"]


@pytest.mark.parametrize("compression", ["tiff_lzw", "raw", "tiff_adobe_deflate", "packbits"])
def test_tiff_keeps_dates_gps_and_iptc_in_any_compression(tmp_path: Path, compression: str) -> None:
    original = camera_tiff(compression)
    before, after = tmp_path / "before.tif", tmp_path / "after.tif"
    before.write_bytes(original)
    after.write_bytes(blur(original))
    old, new = exiftool_tags(before), exiftool_tags(after)
    assert {k: new.get(k) for k in KEPT} == {k: old[k] for k in KEPT}
    assert new["IFD0:Compression"] == old["IFD0:Compression"]
    assert exiftool_binary(after, "IFD0:IPTC-NAA") == IPTC_DATA  # byte for byte
    assert "ExifTool:Warning" not in new
    check_pixels(original, after.read_bytes())


def test_lzw_tiff_with_iptc_from_exiftool_blurs_with_nothing_on_stderr(tmp_path: Path) -> None:
    """The reported failure: an LZW TIFF whose IPTC exiftool wrote, through the command line."""
    images = tmp_path / "cams"
    images.mkdir()
    photo().save(images / "hiker.tif", compression="tiff_lzw")
    subprocess.run(
        [exiftool_path(), "-q", "-overwrite_original", "-DateTimeOriginal=2022:02:03 04:05:06", "-GPSLatitude=45.5",
         "-GPSLatitudeRef=N", "-IPTC:Keywords=hiker", "-XMP-dc:Title=site B", str(images / "hiker.tif")], check=True,
    )
    results = write_md(tmp_path / "md.json", [{"file": "hiker.tif", "detections": [person(list(PERSON_BOX))]}])
    completed = subprocess.run(
        [sys.executable, "-m", "trapblur", "blur", str(images), "--results", str(results), "--out", str(tmp_path / "out"), "-q"],
        capture_output=True, text=True, cwd=REPO,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stderr == ""
    old, new = exiftool_tags(images / "hiker.tif"), exiftool_tags(tmp_path / "out" / "hiker.tif")
    for key in ("ExifIFD:DateTimeOriginal", "GPS:GPSLatitude", "IPTC:Keywords", "XMP-dc:Title", "IFD0:Compression"):
        assert new[key] == old[key], key
    check_pixels((images / "hiker.tif").read_bytes(), (tmp_path / "out" / "hiker.tif").read_bytes())


def test_big_endian_tiff_values_are_kept(tmp_path: Path) -> None:
    layout, strips, sizes = pillow_strips(photo(), "raw")
    be = lambda fmt, *v: struct.pack(">" + fmt, *v)  # noqa: E731
    ifd0 = [(t, k, c, be("H", struct.unpack("<H", v[:2])[0]) * (len(v) // 2) if k == 3 else v) for t, k, c, v in layout]
    ifd0 += [(273, 4, 1, b"@blob:0"), (279, 4, 1, be("I", sizes[0])), (282, 5, 1, be("II", 72, 1)),
             (306, 2, len(DATE), DATE), (34665, 4, 1, b"@ifd:1")]
    exif_ifd = [(0x9003, 2, len(ORIGINAL_DATE), ORIGINAL_DATE), (0x829A, 5, 1, be("II", 1, 250))]
    original = tiff_structure([ifd0, exif_ifd], strips, order=">")
    before, after = tmp_path / "before.tif", tmp_path / "after.tif"
    before.write_bytes(original)
    after.write_bytes(blur(original))
    old, new = exiftool_tags(before), exiftool_tags(after)
    for key in ("IFD0:XResolution", "IFD0:ModifyDate", "ExifIFD:DateTimeOriginal", "ExifIFD:ExposureTime"):
        assert new[key] == old[key], key
    check_pixels(original, after.read_bytes())


def test_tiff_previews_and_copies_of_the_picture_are_removed(tmp_path: Path) -> None:
    thumbnail = preview_jpeg(photo())
    packet = xmp_packet(
        f"<xmp:Thumbnails><rdf:Alt><rdf:li xapGImg:format='JPEG' xapGImg:image='{b64_lines(thumbnail)}'/></rdf:Alt></xmp:Thumbnails>",
        namespaces="xmlns:xmp='http://ns.adobe.com/xap/1.0/' xmlns:xapGImg='http://ns.adobe.com/xap/1.0/g/img/'",
    )
    stream = resource(0x0404, IPTC_DATA) + resource(0x040C, photoshop_thumbnail(thumbnail))
    small = np.asarray(photo().resize((80, 60))).tobytes()
    reduced = [(254, 4, 1, long(1)), (256, 3, 1, short(80)), (257, 3, 1, short(60)), (258, 3, 3, short(8) * 3),
               (259, 3, 1, short(1)), (262, 3, 1, short(2)), (277, 3, 1, short(3)), (278, 3, 1, short(60))]
    sub_ifd = reduced + [(273, 4, 1, b"@after:0"), (279, 4, 1, long(len(small)))]
    ifd1 = reduced + [(273, 4, 1, b"@after:%d" % len(small)), (279, 4, 1, long(len(small)))]
    original = camera_tiff(
        "tiff_lzw", extra_ifd0=[(700, 1, len(packet), packet), (34377, 7, len(stream), stream),
                                (330, 4, 1, b"@ifd:3"), (37724, 7, 8, b"layers!!")],
        extra_ifds=[sub_ifd, ifd1], chain=(0, 4), blob_after=small + small,
    )
    before, after = tmp_path / "before.tif", tmp_path / "after.tif"
    before.write_bytes(original)
    assert exiftool_binary(before, "XMP:ThumbnailImage") == thumbnail
    assert exiftool_binary(before, "Photoshop:PhotoshopThumbnail") == thumbnail
    old = exiftool_tags(before)
    assert old["SubIFD:ImageWidth"] == 80 and old["IFD1:ImageWidth"] == 80
    result = blur(original)
    after.write_bytes(result)
    new = exiftool_tags(after)
    assert exiftool_binary(after, "XMP:ThumbnailImage") in (None, b"")
    assert exiftool_binary(after, "Photoshop:PhotoshopThumbnail") in (None, b"")
    assert not [k for k in new if k.startswith(("SubIFD:", "IFD1:"))]
    assert small[:3000] not in result and b"layers!!" not in result
    for key in ("ExifIFD:DateTimeOriginal", "GPS:GPSLatitude", "IPTC:Keywords", "XMP-dc:Title"):
        assert new[key] == old[key], key
    check_pixels(original, result)


def test_utf16_xmp_with_an_image_is_withheld() -> None:
    thumbnail = preview_jpeg(photo())
    packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><foo:image>' + base64.b64encode(thumbnail).decode() + "</foo:image></x:xmpmeta>").encode("utf-16-le")
    with pytest.raises(PreviewError, match="UTF-16"):
        blur(camera_tiff("raw", extra_ifd0=[(700, 1, len(packet), packet)]))


def test_tiff_maker_note_preview_is_rerendered() -> None:
    preview = preview_jpeg(photo(), (320, 240))
    note = b"Vendor\x00\x00" + preview + b"rest of the maker note"
    output = blur(camera_tiff("raw", extra_exif=[(0x927C, 7, len(note), b"@after:0")], blob_after=note))
    start = output.index(b"Vendor\x00\x00") + 8
    assert output[start + len(preview) : start + len(note) - 8] == b"rest of the maker note"
    rendered = output[start : start + len(preview)]
    assert assert_blurred_or_gone(preview, rendered[: rendered.rindex(b"\xff\xd9") + 2]) == "blurred"


def test_reports_list_what_was_removed(tmp_path: Path) -> None:
    from trapblur import blur_dataset

    images = tmp_path / "cams"
    images.mkdir()
    thumbnail = preview_jpeg(photo())
    stream = resource(0x040C, photoshop_thumbnail(thumbnail))
    (images / "a.tif").write_bytes(camera_tiff("tiff_lzw", extra_ifd0=[(34377, 7, len(stream), stream), (37724, 7, 8, b"layers!!")]))
    results = write_md(tmp_path / "md.json", [{"file": "a.tif", "detections": [person(list(PERSON_BOX))]}])
    report = blur_dataset(images, results, tmp_path / "out")
    row = next(report.images())
    assert row.action == "blurred"
    assert "Photoshop thumbnail removed" in row.reason and "37724" in row.reason


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "I;16", "CMYK"])
def test_every_pixel_mode_and_jpeg_compressed_tiffs_are_written(mode: str) -> None:
    picture = photo().convert("L") if mode in ("L", "I;16") else photo().convert(mode)
    if mode == "I;16":
        picture = Image.fromarray(np.asarray(picture).astype(np.uint16) * 257)
    for compression in ("tiff_lzw", "jpeg") if mode in ("RGB", "L", "CMYK") else ("tiff_lzw",):
        buffer = io.BytesIO()
        picture.save(buffer, "TIFF", compression=compression, tiffinfo={270: "camera 7 site B"})
        result = Image.open(io.BytesIO(blur(buffer.getvalue())))
        assert (result.mode, result.info["compression"], result.tag_v2[270]) == (picture.mode, compression, "camera 7 site B")
