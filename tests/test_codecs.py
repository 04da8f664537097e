"""Decoding and re-encoding: pixels, encoder settings and metadata kept; previews that leak re-rendered."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from trapblur import BlurOptions, ImageError, blur_image
from trapblur.codecs import decode_pixels, encode_like, inspect_image
from trapblur.jpeg import parse_jpeg
from trapblur.results import Detection

from conftest import build_exif, decode, detail_energy, jpeg_bytes, make_camera_jpeg, segments_of, textured_pixels

LEFT_HALF_PERSON = [Detection("person", 0.9, (0.05, 0.1, 0.4, 0.8))]  # x 0.05-0.45, y 0.1-0.9


def thumbnail_of(data: bytes) -> np.ndarray:
    tiff = segments_of(data)[[s[4:10] == b"Exif\x00\x00" for s in segments_of(data)].index(True)][10:]
    start = tiff.find(b"\xff\xd8\xff", 8)
    end = tiff.find(b"\xff\xd9", start) + 2
    return decode(tiff[start:end])


def test_blurred_jpeg_keeps_metadata_tables_and_sampling() -> None:
    original = make_camera_jpeg(640, 480, quality=88, subsampling=1)
    output = blur_image(original, LEFT_HALF_PERSON, BlurOptions(padding=0))
    before, after = segments_of(original), segments_of(output)
    assert len(before) == len(after)
    for old, new in zip(before, after):
        if old[4:10] == b"Exif\x00\x00":
            assert len(old) == len(new)  # thumbnail replaced in place: no EXIF offset moves
            thumbnail_start = old.find(b"\xff\xd8\xff")
            assert old[:thumbnail_start] == new[:thumbnail_start]  # IFD0, IFD1 (orientation, date) untouched
            assert old[thumbnail_start:] != new[thumbnail_start:]
        else:
            assert old == new  # COM, JFIF byte for byte
    source, result = Image.open(io.BytesIO(original)), Image.open(io.BytesIO(output))
    assert result.quantization == source.quantization
    assert JpegImagePlugin.get_sampling(result) == JpegImagePlugin.get_sampling(source) == 1
    assert result.getexif()[0x0132] == "2024:05:01 06:12:30"


def test_pixels_blurred_inside_and_kept_outside_the_box() -> None:
    original = make_camera_jpeg(640, 480)
    output = blur_image(original, LEFT_HALF_PERSON, BlurOptions(padding=0))
    a, b = decode(original).astype(int), decode(output).astype(int)
    inside = (slice(60, 420), slice(40, 280))
    assert detail_energy(b[inside].astype(np.uint8)) < 0.05 * detail_energy(a[inside].astype(np.uint8))
    outside = (slice(0, 480), slice(300, 640))  # the box ends at x=288; leave a block of margin
    assert np.abs(a[outside] - b[outside]).mean() < 1.5  # re-encoding noise only, same tables


def test_exif_thumbnail_no_longer_shows_the_person() -> None:
    original = make_camera_jpeg(640, 480)
    output = blur_image(original, LEFT_HALF_PERSON, BlurOptions(padding=0))
    before, after = thumbnail_of(original), thumbnail_of(output)
    assert before.shape == after.shape == (120, 160, 3)
    person = (slice(20, 100), slice(12, 68))
    assert detail_energy(after[person]) < 0.3 * detail_energy(before[person])


def test_mpf_preview_and_trailing_data_are_removed(shared_images: Path) -> None:
    original = (shared_images / "person_animlpy_B012_2021-05-27_human.jpg").read_bytes()
    output = blur_image(original, [Detection("person", 0.837, (0.02, 0.677, 0.33, 0.319))])
    assert output.count(b"\xff\xd8\xff") == 2  # the image and its (re-rendered) EXIF thumbnail
    assert not any(s[4:8] == b"MPF\x00" for s in segments_of(output))
    assert parse_jpeg(output).end == len(output)


@pytest.mark.parametrize("progressive, restart", [(True, 0), (False, 4)])
def test_progressive_mode_and_restart_interval_are_kept(progressive: bool, restart: int) -> None:
    image = Image.fromarray(textured_pixels(320, 240))
    extra = {"restart_marker_blocks": restart} if restart else {}
    original = jpeg_bytes(image, quality=90, progressive=progressive, **extra)
    output = blur_image(original, LEFT_HALF_PERSON)
    before, after = parse_jpeg(original), parse_jpeg(output)
    assert after.progressive == before.progressive == progressive
    assert after.restart_interval == before.restart_interval == restart


def test_greyscale_and_cmyk_jpegs(shared_images: Path) -> None:
    for name, mode in (("animal_stn_african_elephants_bw.jpg", "L"), ("animal_stn_african_elephants_cmyk.jpg", "CMYK")):
        original = (shared_images / name).read_bytes()
        output = blur_image(original, LEFT_HALF_PERSON)
        a = np.asarray(Image.open(io.BytesIO(original))).astype(int)
        b = np.asarray(Image.open(io.BytesIO(output))).astype(int)
        assert Image.open(io.BytesIO(output)).mode == mode
        assert np.abs(a[:, 1000:] - b[:, 1000:]).mean() < 2.0, name  # same colours outside the box
        assert segments_of(output) == segments_of(original)  # no previews in these files


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty file"),
        (b"hello, not an image at all", "not a JPEG, PNG or TIFF"),
        (make_camera_jpeg(320, 240)[:-3000], "truncated"),
        (make_camera_jpeg(320, 240)[:300], "truncated"),
    ],
)
def test_broken_files_raise_a_clear_image_error(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        blur_image(data, LEFT_HALF_PERSON)


def test_shared_truncated_and_empty_files_are_refused(shared_images: Path) -> None:
    for name in ("broken_stn_african_elephants_truncated_file.jpg", "broken_animlpy_error_img_0bytes.JPG"):
        with pytest.raises(ImageError):
            inspect_image((shared_images / name).read_bytes())


def test_png_8_and_16_bit_keep_their_metadata_chunks() -> None:
    from PIL import PngImagePlugin

    for pixels in (textured_pixels(200, 150), (textured_pixels(200, 150).astype(np.uint16) * 257)):
        import cv2
        ok, buffer = cv2.imencode(".png", pixels)
        image = Image.open(io.BytesIO(buffer.tobytes()))
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "site B, camera 7")
        out = io.BytesIO()
        if pixels.dtype == np.uint8:
            image.save(out, "PNG", pnginfo=info, exif=build_exif(1, "2023:01:02 03:04:05")[6:])
            original = out.getvalue()
        else:  # Pillow cannot write 16-bit colour; insert a tEXt chunk by hand after IHDR
            raw = buffer.tobytes()
            chunk = b"Comment\x00site B, camera 7"
            import zlib
            text = struct.pack(">I", len(chunk)) + b"tEXt" + chunk + struct.pack(">I", zlib.crc32(b"tEXt" + chunk))
            original = raw[:33] + text + raw[33:]
        output = blur_image(original, LEFT_HALF_PERSON)
        result = Image.open(io.BytesIO(output))
        assert result.text.get("Comment") == "site B, camera 7"
        a, b = decode(original), decode(output)
        assert a.dtype == b.dtype == pixels.dtype
        assert np.array_equal(a[:, 120:], b[:, 120:])  # lossless outside the box
        assert not np.array_equal(a[40:110, 20:80], b[40:110, 20:80])
        if pixels.dtype == np.uint8:
            assert result.getexif()[0x0132] == "2023:01:02 03:04:05"


def test_tiff_keeps_tags_and_pixels_outside() -> None:
    image = Image.fromarray(textured_pixels(200, 150)[..., ::-1].copy())
    out = io.BytesIO()
    image.save(out, "TIFF", tiffinfo={270: "camera 7 site B", 306: "2022:02:03 04:05:06"}, compression="tiff_lzw")
    output = blur_image(out.getvalue(), LEFT_HALF_PERSON)
    result = Image.open(io.BytesIO(output))
    assert result.tag_v2[270] == "camera 7 site B"
    assert result.tag_v2[306] == "2022:02:03 04:05:06"
    a, b = np.asarray(image), np.asarray(result)
    assert np.array_equal(a[:, 120:], b[:, 120:])
    assert detail_energy(b[40:110, 20:80]) < 0.1 * detail_energy(a[40:110, 20:80])


def test_orientation_is_read_and_pixels_stay_in_stored_order() -> None:
    original = make_camera_jpeg(640, 480, orientation=6)
    source = inspect_image(original)
    assert source.orientation == 6 and (source.width, source.height) == (640, 480)
    assert decode_pixels(source).array.shape == (480, 640, 3)
    assert Image.open(io.BytesIO(encode_like(source, decode_pixels(source)).data)).getexif()[0x0112] == 6


@pytest.mark.parametrize("size", [(333, 257), (17, 9), (1, 1)])
def test_odd_sizes_with_boxes_touching_the_edges(size: tuple[int, int]) -> None:
    width, height = size
    original = jpeg_bytes(Image.fromarray(textured_pixels(width, height)), quality=90)
    # a box must cover at least a pixel each way (a 1 x 1 image's box is the whole frame)
    box = (0.5, 0.5, 0.5, 0.5) if min(size) > 1 else (0.0, 0.0, 1.0, 1.0)
    output = blur_image(original, [Detection("person", 0.9, box)])
    assert decode(output).shape == (height, width, 3)
    if width > 100:
        a, b = decode(original).astype(int), decode(output).astype(int)
        corner = (slice(int(height * 0.6), height), slice(int(width * 0.6), width))
        assert detail_energy(b[corner].astype(np.uint8)) < 0.1 * detail_energy(a[corner].astype(np.uint8))


def test_blur_image_refuses_a_selected_detection_with_an_empty_box() -> None:
    with pytest.raises(ImageError, match="empty box"):
        blur_image(make_camera_jpeg(320, 240), [Detection("person", 0.9, (0.3, 0.3, 0.0, 0.2))])
