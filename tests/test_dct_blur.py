"""Strong blurs computed from block means (trapblur.dct_blur) against the exact path, and the cost model.

The exact path decodes the window's pixels, blurs them with the core's ``hide_regions`` and codes them
again; forcing it (``DC_CONTEXT_MIN_SIGMA = inf``) gives the reference each DCT-domain result must match
to 45 dB PSNR inside the blurred area, as strongly blurred (detail no higher than re-encoding leaves),
with every block outside the area bit-identical (``check_lossless`` reads them with IJG libjpeg).
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_camera_jpeg, person, write_md
from trapblur import blur_dataset, jpeg_lossless, jpeg_turbo
from trapblur.jpeg_lossless import (
    LosslessNotFaster,
    edit_jpeg_blocks,
    mcu_aligned,
    read_block_layout,
)
from trapblur.pipeline import REPORT_NAME
from trapblur.regions import PixelBox, Region

pytest.importorskip("jpeglib")
from test_jpeg_lossless import (
    check_lossless,
    decode,
    high_frequency,
    make_jpeg,
    reencoded,
    shared_image,
    textured_image,
)

WIDTH, HEIGHT = 643, 485  # partial MCUs at the right and bottom edges


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-12))


def exact_reference(data: bytes, regions: list[Region], method: str, monkeypatch: pytest.MonkeyPatch) -> bytes:
    with monkeypatch.context() as patch:
        patch.setattr(jpeg_lossless, "DC_CONTEXT_MIN_SIGMA", float("inf"))
        return jpeg_lossless.blur_jpeg_blocks(data, regions, method)


def crop(pixels: np.ndarray, box: PixelBox) -> np.ndarray:
    return pixels[box.y0 : box.y1, box.x0 : box.x1]


def photograph(layout: str) -> bytes:
    pixels = textured_image(WIDTH, HEIGHT, seed=11)
    if layout == "grey":
        return make_jpeg(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY), quality=92)
    subsampling = {"444": 0, "422": 1, "420": 2}[layout]
    return make_jpeg(pixels, subsampling=subsampling, quality=92, progressive=layout == "420")


BOXES = {
    "middle": (PixelBox(200, 90, 420, 400), 40.0),
    "whole frame": (PixelBox(0, 0, WIDTH, HEIGHT), 90.0),
    "corner": (PixelBox(500, 330, WIDTH, HEIGHT), 22.0),  # at the partial-MCU edges, context reflected
    "thin": (PixelBox(10, 20, 200, 60), 24.0),  # a long box: context much taller than the box
}


@pytest.mark.parametrize("layout", ["444", "422", "420", "grey"])
@pytest.mark.parametrize("where", BOXES)
def test_matches_the_exact_path(layout: str, where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = photograph(layout)
    box, sigma = BOXES[where]
    regions = [Region(box, sigma)]
    fast = check_lossless(data, regions, "gaussian", tmp_path, "auto")
    exact = exact_reference(data, regions, "gaussian", monkeypatch)
    assert fast != exact, "the DCT-domain path was not taken"
    area = mcu_aligned(box, read_block_layout(data))
    # At the right and bottom edges, a partial block's mean includes the encoder's padding (the last
    # sample repeated), which the exact path never decodes: colour there agrees a little less well.
    at_partial_edge = where == "corner" and layout != "grey"
    assert psnr(crop(decode(fast), area), crop(decode(exact), area)) >= (40 if at_partial_edge else 45)
    reference = reencoded(data, regions, "gaussian")
    inner = PixelBox(box.x0 + 8, box.y0 + 8, box.x1 - 8, box.y1 - 8)
    assert high_frequency(decode(fast), inner) < 0.1 * high_frequency(decode(data), inner)
    assert high_frequency(decode(fast), inner) <= 1.25 * high_frequency(reference, inner) + 0.5


def true_gaussian(grey: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur without approximation (FFT, mirrored edges): the reference both paths aim at."""
    pad = int(4 * sigma) + 1
    padded = cv2.copyMakeBorder(grey.astype(np.float64), pad, pad, pad, pad, cv2.BORDER_REFLECT)
    fy, fx = np.fft.fftfreq(padded.shape[0])[:, None], np.fft.rfftfreq(padded.shape[1])[None, :]
    kernel = np.exp(-2 * (np.pi * sigma) ** 2 * (fx**2 + fy**2))
    return np.fft.irfft2(np.fft.rfft2(padded) * kernel, s=padded.shape)[pad:-pad, pad:-pad]


@pytest.mark.parametrize("name, box, against_truth", [
    ("person_animlpy_B012_2021-05-27_human.jpg", (0, 1950, 1545, 3024), True),  # 4:2:2, 12 MP, its person
    ("animal_md_idaho-camera-traps.jpg", (240, 150, 520, 330), True),  # 4:2:0
    # Quality ~20 tables (a DC step is 5 grey levels, 10 in blue) and a third of the window clipped at
    # 0 or 255: a true Gaussian of clipped pixels favours the exact path, and any two blurs this close
    # round to quantisation steps apart here and there. Checked against the exact path only.
    ("animal_stn_african_elephants.jpg", (900, 500, 1300, 1200), False),  # 4:2:2, 3 MP
])
def test_real_photographs_are_blurred_as_truly_as_the_core_blurs(
    name: str, box: tuple, against_truth: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against a true Gaussian of the luma, the DCT-domain result is at least as close as the exact path's
    (the core's downscale -> blur -> upscale, whose cells grow with sigma, is itself an approximation)."""
    data = shared_image(name)
    pixel_box = PixelBox(*box)
    sigma = max(pixel_box.width, pixel_box.height) / 8
    regions = [Region(pixel_box, sigma)]
    fast = check_lossless(data, regions, "gaussian", tmp_path, "auto")
    exact = exact_reference(data, regions, "gaussian", monkeypatch)
    original = decode(data)
    height, width = original.shape[:2]
    window = pixel_box.grown(int(3 * sigma), width, height)  # what the core's blur reads
    area = mcu_aligned(pixel_box, read_block_layout(data))
    inside = PixelBox(area.x0 - window.x0, area.y0 - window.y0, area.x1 - window.x0, area.y1 - window.y0)

    def luma(pixels: np.ndarray) -> np.ndarray:
        return pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)

    truth = np.clip(np.rint(true_gaussian(luma(crop(original, window)), sigma)), 0, 255)
    truth = crop(truth, inside)
    fast_error, exact_error = psnr(crop(luma(decode(fast)), area), truth), psnr(crop(luma(decode(exact)), area), truth)
    difference = np.abs(crop(decode(fast), area).astype(int) - crop(decode(exact), area).astype(int))
    if against_truth:
        assert fast_error >= exact_error - 1.0, (fast_error, exact_error)
        assert psnr(crop(decode(fast), area), crop(decode(exact), area)) >= 38
    else:
        assert difference.mean() < 3.0 and np.percentile(difference, 99) <= 15  # within ~1 quantisation step


def test_a_person_filling_the_frame(tmp_path: Path) -> None:
    data = shared_image("person_animlr_Peru_S90_SDZG2_EK000008.JPG")
    box = PixelBox(0, 0, 3264, 2448)
    fast = check_lossless(data, [Region(box, 408.0)], "gaussian", tmp_path, "auto")
    inner = PixelBox(16, 16, 3248, 2432)
    assert high_frequency(decode(fast), inner) < 0.05 * high_frequency(decode(data), inner)


def test_a_weak_blur_inside_a_strong_one_leaves_it_as_strong(tmp_path: Path) -> None:
    """A small box (exact path) inside a person's box (block means): the overlap is blurred by both."""
    data = photograph("420")
    big = Region(PixelBox(100, 60, 500, 440), 50.0)
    small = Region(PixelBox(240, 160, 300, 230), 6.0)
    both = check_lossless(data, [small, big], "gaussian", tmp_path, "auto")
    strong_only = check_lossless(data, [big], "gaussian", tmp_path, "auto")
    overlap = PixelBox(248, 168, 292, 222)
    assert high_frequency(decode(both), overlap) <= high_frequency(decode(strong_only), overlap) + 0.5
    assert psnr(crop(decode(both), overlap), crop(decode(strong_only), overlap)) >= 35  # the strong blur won


def test_overlapping_strong_blurs_blur_in_turn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = photograph("422")
    regions = [Region(PixelBox(50, 50, 350, 300), 30.0), Region(PixelBox(250, 150, 600, 450), 45.0)]
    fast = check_lossless(data, regions, "gaussian", tmp_path, "auto")
    exact = exact_reference(data, regions, "gaussian", monkeypatch)
    union = PixelBox(48, 48, 608, 464)
    assert psnr(crop(decode(fast), union), crop(decode(exact), union)) >= 42


def test_strong_blur_costs_no_pixel_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DCT-domain path must not fall back to decoding pixels (which made large boxes slow)."""
    from trapblur import jpeg_dct

    def refuse(*_: object) -> None:
        raise AssertionError("a pixel window was decoded")

    monkeypatch.setattr(jpeg_dct, "decode_window", refuse)
    monkeypatch.setattr(jpeg_lossless, "decode_window", refuse)
    data = photograph("420")
    edited = edit_jpeg_blocks(data, [Region(PixelBox(0, 0, WIDTH, HEIGHT), 80.0)], "gaussian")
    assert edited.data != data
    _, cost = jpeg_lossless.plan_edit(read_block_layout(data), [(Region(PixelBox(0, 0, 640, 480), 80.0),
                                                                  PixelBox(0, 0, 640, 480))], "gaussian")
    assert cost.exact_decoded == cost.exact_encoded == 0


# ----------------------------------------------------------------------------------------------------------
# The cost model


def test_large_exact_edits_are_left_to_re_encoding() -> None:
    data = photograph("420")
    whole = [Region(PixelBox(0, 0, WIDTH, HEIGHT), 40.0)]
    with pytest.raises(LosslessNotFaster, match="re-encoding"):
        edit_jpeg_blocks(data, whole, "pixelate", only_if_faster=True)
    assert edit_jpeg_blocks(data, whole, "pixelate").data != data  # still possible when asked for
    assert edit_jpeg_blocks(data, whole, "gaussian", only_if_faster=True).data != data  # from block means
    small = [Region(PixelBox(100, 100, 180, 220), 15.0)]
    assert edit_jpeg_blocks(data, small, "pixelate", only_if_faster=True).data != data


def test_small_photographs_stay_lossless() -> None:
    """A 160 x 120 picture is edited block-wise even from pixels: re-encoding would save under a millisecond."""
    data = make_jpeg(textured_image(160, 120, seed=1), quality=90)
    for method, sigma in (("gaussian", 30.0), ("gaussian", 9.0), ("pixelate", 9.0)):
        region = [Region(PixelBox(0, 0, 160, 120), sigma)]
        assert edit_jpeg_blocks(data, region, method, only_if_faster=True).data != data


def test_the_report_says_when_re_encoding_was_faster(tmp_path: Path) -> None:
    images = tmp_path / "cams"
    images.mkdir()
    (images / "near.jpg").write_bytes(make_camera_jpeg(640, 480, seed=3))
    (images / "far.jpg").write_bytes(make_camera_jpeg(640, 480, seed=4))
    results = write_md(tmp_path / "md.json", [
        {"file": "near.jpg", "detections": [person([0.0, 0.0, 1.0, 1.0])]},
        {"file": "far.jpg", "detections": [person([0.4, 0.4, 0.05, 0.1])]},
    ])
    for method, near in (("pixelate", "reencode"), ("gaussian", "lossless")):
        output = tmp_path / method
        blur_dataset(images, results, output, method=method)
        with (output / REPORT_NAME).open(newline="") as stream:
            rows = {row["input"]: row for row in csv.DictReader(stream)}
        assert rows["near.jpg"]["encoding"] == near
        assert rows["far.jpg"]["encoding"] == "lossless"
        if near == "reencode":
            assert "faster than editing the blocks" in rows["near.jpg"]["reason"]


def test_turbojpeg_is_costed_below_re_encoding() -> None:
    if not jpeg_turbo.available():
        pytest.skip("libturbojpeg is not installed")
    costs = jpeg_lossless.COSTS
    assert costs.turbojpeg + costs.from_means < costs.margin <= costs.exact_decoded + costs.exact_encoded


# ----------------------------------------------------------------------------------------------------------
# Restart markers through TurboJPEG


@pytest.mark.parametrize("options", [
    {"subsampling": 2, "restart_marker_blocks": 3},
    {"subsampling": 1, "progressive": True, "restart_marker_blocks": 2},
    {"subsampling": 0, "restart_marker_blocks": 40},
])
@pytest.mark.parametrize("method, sigma", [("gaussian", 30.0), ("gaussian", 6.0), ("fill", 5.0)])
def test_turbojpeg_keeps_the_restart_interval(options: dict, method: str, sigma: float, tmp_path: Path) -> None:
    """With "auto", files with restart markers go through libjpeg-turbo too, markers and interval kept."""
    if not jpeg_turbo.available():
        pytest.skip("libturbojpeg is not installed")
    data = make_jpeg(textured_image(320, 240, seed=2), quality=90, **options)
    regions = [Region(PixelBox(40, 30, 200, 190), sigma)]
    assert edit_jpeg_blocks(data, regions, method).backend == "turbojpeg"
    check_lossless(data, regions, method, tmp_path, "auto")  # restart interval and markers, blocks outside


def test_grey_progressive_restart_file_through_turbojpeg(tmp_path: Path) -> None:
    if not jpeg_turbo.available():
        pytest.skip("libturbojpeg is not installed")
    grey = cv2.cvtColor(textured_image(203, 157, seed=4), cv2.COLOR_RGB2GRAY)
    data = make_jpeg(grey, progressive=True, restart_marker_blocks=5)
    regions = [Region(PixelBox(20, 20, 150, 140), 25.0)]
    assert edit_jpeg_blocks(data, regions, "gaussian").backend == "turbojpeg"
    check_lossless(data, regions, "gaussian", tmp_path, "auto")


# ----------------------------------------------------------------------------------------------------------
# The 1/4-scale picture smaller photographs hand back for their previews


def _quarter_scale_difference(data: bytes, region: Region) -> tuple[np.ndarray, np.ndarray]:
    edited = edit_jpeg_blocks(data, [region], "gaussian")
    assert edited.quarter_scale is not None
    quarter = edited.quarter_scale()
    grey = quarter.ndim == 2
    flags = (cv2.IMREAD_REDUCED_GRAYSCALE_4 if grey else cv2.IMREAD_REDUCED_COLOR_4) | cv2.IMREAD_IGNORE_ORIENTATION
    reference = cv2.imdecode(np.frombuffer(edited.data, np.uint8), flags)
    reference = reference if grey else reference[..., ::-1]
    rows, columns = reference.shape[:2]
    assert quarter.shape[0] >= rows and quarter.shape[1] >= columns
    return quarter, np.abs(quarter[:rows, :columns].astype(int) - reference.astype(int))


@pytest.mark.parametrize("layout", ["444", "grey"])
def test_quarter_scale_picture_is_the_edited_image(layout: str) -> None:
    """Like the 1/8-scale one, the 1/4-scale picture (for EXIF thumbnails of photographs under 1280 px)
    is what libjpeg-turbo's own 1/4-scale decode of the output gives, blurred region included."""
    if not jpeg_turbo.available():
        pytest.skip("libturbojpeg is not installed")
    _, difference = _quarter_scale_difference(photograph(layout), Region(PixelBox(100, 60, 400, 300), 40.0))
    assert difference.mean() < 1.0 and np.percentile(difference, 99) <= 4


def test_quarter_scale_picture_of_a_subsampled_photograph() -> None:
    """With 4:2:0 chroma, libjpeg-turbo reconstructs chroma at 1/4 scale otherwise than trapblur
    interpolates it: on a real photograph they agree to about a grey level."""
    if not jpeg_turbo.available():
        pytest.skip("libturbojpeg is not installed")
    data = shared_image("animal_md_idaho-camera-traps.jpg")
    _, difference = _quarter_scale_difference(data, Region(PixelBox(240, 150, 520, 330), 35.0))
    assert difference.mean() < 1.5 and np.percentile(difference, 99) <= 10


def test_small_photographs_render_their_thumbnail_without_a_second_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    from trapblur import codecs
    from trapblur.codecs import encode_jpeg_blocks, inspect_image

    if not jpeg_turbo.available():
        pytest.skip("libturbojpeg is not installed")

    def refuse(*_: object) -> None:
        raise AssertionError("the edited JPEG was decoded again")

    monkeypatch.setattr(codecs, "_decode_reduced", refuse)
    data = make_camera_jpeg(800, 600, seed=2)  # a 160 x 120 EXIF thumbnail: 1/8 scale is too small
    source = inspect_image(data)
    encoded = encode_jpeg_blocks(source, [Region(PixelBox(200, 100, 500, 500), 50.0)], "gaussian")
    start = encoded.data.index(b"\xff\xd8\xff", 4)  # the thumbnail inside EXIF
    thumbnail = decode(encoded.data[start:])
    assert thumbnail is not None and thumbnail.shape[:2] == (120, 160)
