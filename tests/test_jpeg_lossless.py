"""Block-wise JPEG blurring: every block outside the blurred MCUs must keep its exact DCT coefficients.

Every check runs against each coefficient back end: ``turbojpeg`` (the system's libturbojpeg through
ctypes, :mod:`trapblur.jpeg_turbo`) and ``pyjpegio``. A back end whose library is missing is skipped,
unless ``TRAPBLUR_REQUIRE_TURBOJPEG=1`` (CI with ``libturbojpeg0`` installed) makes its absence a failure.

The coefficients are checked with an *independent* reader: ``jpeglib`` running the IJG's own libjpeg 9e
(another wrapper around another decoder code base than the libjpeg-turbo that both back ends use).
The file structure (frame type, quantisation tables, restart markers in the scan data) is checked by
reading the bytes here, and the pixels by decoding with OpenCV.
"""

from __future__ import annotations

import io
import os
import re
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from trapblur.blur import hide_regions
from trapblur import jpeg_turbo
from trapblur.jpeg_lossless import LosslessUnsupported, blur_jpeg_blocks, mcu_aligned, read_block_layout
from trapblur.regions import PixelBox, Region

jpeglib = pytest.importorskip("jpeglib")

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
WIDTH, HEIGHT = 203, 157  # neither a multiple of 8 nor of 16: partial MCUs at the right and bottom
REQUIRE_TURBOJPEG = os.environ.get("TRAPBLUR_REQUIRE_TURBOJPEG") == "1"


def _pyjpegio_available() -> bool:
    try:
        import jpegio  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(params=["turbojpeg", "pyjpegio"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each coefficient back end in turn; skipped where its library is missing (unless CI requires it)."""
    if request.param == "turbojpeg" and not jpeg_turbo.available():
        if REQUIRE_TURBOJPEG:
            pytest.fail("TRAPBLUR_REQUIRE_TURBOJPEG=1 but libturbojpeg cannot be loaded")
        pytest.skip("libturbojpeg is not installed")
    if request.param == "pyjpegio" and not _pyjpegio_available():
        pytest.skip("pyjpegio is not installed")
    return request.param


# ----------------------------------------------------------------------------------------------------------
# Helpers


def textured_image(width: int = WIDTH, height: int = HEIGHT, seed: int = 1) -> np.ndarray:
    """An RGB picture with edges, gradients and fine texture in every colour (so a blur is measurable)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 255 // width), (y * 255 // height), ((x + y) * 3) % 256], axis=-1).astype(float)
    checker = ((x // 5 + y // 7) % 2)[..., None] * np.array([90.0, -60.0, 40.0])
    noise = rng.normal(0, 25, (height, width, 3))
    return np.clip(base + checker + noise, 0, 255).astype(np.uint8)


def make_jpeg(pixels: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=options.pop("quality", 90), **options)
    return buffer.getvalue()


def coefficients(data: bytes, folder: Path, name: str) -> list[np.ndarray]:
    """DCT coefficients per component as (block rows, block columns, 8, 8), read by IJG libjpeg 9e."""
    path = folder / name
    path.write_bytes(data)
    with jpeglib.version("9e"):
        image = jpeglib.read_dct(str(path))
        image.load()
        planes = [image.Y] + ([image.Cb, image.Cr] if image.has_chrominance else [])
    return [np.array(p) for p in planes]


def frame_info(data: bytes) -> dict:
    """SOF marker, precision, size, components, DQT tables, DRI and the number of RST markers, from bytes."""
    info: dict = {"dqt": {}, "dri": 0, "rst": 0, "scans": 0}
    position = 2
    while position < len(data):
        marker = data[position + 1]
        if marker == 0xD9:
            break
        length = struct.unpack_from(">H", data, position + 2)[0]
        body = data[position + 4 : position + 2 + length]
        if marker in (0xC0, 0xC1, 0xC2):
            info["sof"] = marker
            info["precision"], info["height"], info["width"], count = struct.unpack_from(">BHHB", body)
            info["components"] = [tuple(body[6 + 3 * i : 9 + 3 * i]) for i in range(count)]
        elif marker == 0xDB:  # one or more tables: precision/slot byte, then 64 or 128 bytes
            offset = 0
            while offset < len(body):
                size = 129 if body[offset] >> 4 else 65
                info["dqt"][body[offset] & 15] = bytes(body[offset : offset + size])
                offset += size
        elif marker == 0xDD:
            info["dri"] = struct.unpack_from(">H", body)[0]
        position += 2 + length
        if marker == 0xDA:
            info["scans"] += 1
            end = re.compile(rb"\xff(?!\x00|[\xd0-\xd7])").search(data, position).start()
            info["rst"] += len(re.findall(rb"\xff[\xd0-\xd7]", data[position:end]))
            position = end
    return info


def edited_mask(shape: tuple[int, int], area_blocks: list[tuple[slice, slice]]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for rows, columns in area_blocks:
        mask[rows, columns] = True
    return mask


def component_block_areas(data: bytes, areas: list[PixelBox]) -> list[list[tuple[slice, slice]]]:
    """For each component, the block ranges inside each MCU-aligned pixel area (computed independently)."""
    info = frame_info(data)
    factors = [(c[1] >> 4, c[1] & 15) for c in info["components"]]
    if len(factors) == 1:
        factors = [(1, 1)]
    max_h, max_v = max(h for h, _ in factors), max(v for _, v in factors)
    result = []
    for h, v in factors:
        ranges = []
        for area in areas:
            # pixel -> component sample -> block; areas are MCU-aligned, so this is exact
            ranges.append((
                slice(area.y0 * v // max_v // 8, -(-area.y1 * v // max_v // 8)),
                slice(area.x0 * h // max_h // 8, -(-area.x1 * h // max_h // 8)),
            ))
        result.append(ranges)
    return result


def decode(data: bytes) -> np.ndarray:
    flags = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
    return cv2.imdecode(np.frombuffer(data, np.uint8), flags)


def reencoded(data: bytes, regions: list[Region], method: str) -> np.ndarray:
    """What the core's re-encoding path shows: decode, hide_regions, encode with the source's tables."""
    pixels = decode(data)
    hide_regions(pixels, regions, method)
    source = Image.open(io.BytesIO(data))
    options = {"qtables": source.quantization}
    if pixels.ndim == 3:
        pixels = pixels[..., ::-1]
        from PIL import JpegImagePlugin

        options["subsampling"] = JpegImagePlugin.get_sampling(source)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, "JPEG", **options)
    return decode(buffer.getvalue())


def high_frequency(pixels: np.ndarray, box: PixelBox) -> float:
    """Mean absolute Laplacian of the luma inside ``box`` (shrunk by 4 px): near zero once blurred."""
    grey = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    inner = grey[box.y0 + 4 : box.y1 - 4, box.x0 + 4 : box.x1 - 4].astype(np.float32)
    return float(np.abs(cv2.Laplacian(inner, cv2.CV_32F)).mean())


def check_lossless(data: bytes, regions: list[Region], method: str, folder: Path, backend: str) -> bytes:
    """Blur block-wise with ``backend`` and check every promise; return the output."""
    output = blur_jpeg_blocks(data, regions, method, backend=backend)
    layout = read_block_layout(data)
    areas = [mcu_aligned(PixelBox(max(0, r.box.x0), max(0, r.box.y0), min(layout.width, r.box.x1),
                                  min(layout.height, r.box.y1)), layout) for r in regions]

    # Structure: same frame type, precision, size, components and sampling, tables, restart interval.
    before, after = frame_info(data), frame_info(output)
    for key in ("sof", "precision", "width", "height", "components", "dri"):
        assert after[key] == before[key], key
    assert after["dqt"] == before["dqt"]
    if before["dri"]:
        assert after["rst"] > 0, "restart markers were dropped"

    # Coefficients, read by an independent decoder: identical outside the grown areas, new inside.
    old, new = coefficients(data, folder, "in.jpg"), coefficients(output, folder, "out.jpg")
    assert len(old) == len(new)
    for component, ranges in enumerate(component_block_areas(data, areas)):
        assert old[component].shape == new[component].shape
        mask = edited_mask(old[component].shape[:2], ranges)
        same = (old[component] == new[component]).all(axis=(2, 3))
        assert same[~mask].all(), f"component {component}: {(~same[~mask]).sum()} blocks changed outside"
        assert not same[mask].all(), f"component {component}: nothing changed inside the regions"

    # Pixels: identical outside the grown areas, except a 2 px band where chroma is interpolated.
    a, b = decode(data).astype(int), decode(output).astype(int)
    outside = np.ones(a.shape[:2], bool)
    for area in areas:
        outside[max(0, area.y0 - 2) : area.y1 + 2, max(0, area.x0 - 2) : area.x1 + 2] = False
    assert np.array_equal(a[outside], b[outside])
    return output


# ----------------------------------------------------------------------------------------------------------
# Layouts


LAYOUTS = {
    "baseline-444": dict(subsampling=0),
    "baseline-422": dict(subsampling=1),
    "baseline-420": dict(subsampling=2),
    "baseline-420-restart": dict(subsampling=2, restart_marker_blocks=3),
    "baseline-420-optimised-huffman": dict(subsampling=2, optimize=True),
    "progressive-444": dict(subsampling=0, progressive=True),
    "progressive-420": dict(subsampling=2, progressive=True),
    "progressive-422-restart": dict(subsampling=1, progressive=True, restart_marker_blocks=2),
    "grey-baseline": dict(grey=True),
    "grey-progressive-restart": dict(grey=True, progressive=True, restart_marker_blocks=5),
}


@pytest.mark.parametrize("name", LAYOUTS)
def test_only_touched_blocks_change(name: str, backend: str, tmp_path: Path) -> None:
    options = dict(LAYOUTS[name])
    pixels = textured_image()
    if options.pop("grey", False):
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    data = make_jpeg(pixels, **options)
    # Several boxes in one pass: one touching the top-left corner, one the bottom-right (partial MCUs),
    # one in the middle that is not on the MCU grid.
    regions = [
        Region(PixelBox(0, 0, 37, 29), sigma=6.0),
        Region(PixelBox(150, 110, WIDTH, HEIGHT), sigma=9.0),
        Region(PixelBox(71, 45, 118, 96), sigma=12.0),
    ]
    if backend == "turbojpeg" and "restart" in name:
        # libjpeg-turbo's transform drops restart markers: refused, and "auto" takes pyjpegio instead.
        with pytest.raises(LosslessUnsupported, match="restart"):
            blur_jpeg_blocks(data, regions, "gaussian", backend=backend)
        if _pyjpegio_available():
            check_lossless(data, regions, "gaussian", tmp_path, "auto")
        return
    check_lossless(data, regions, "gaussian", tmp_path, backend)


@pytest.mark.parametrize("subsampling", [0, 1, 2])
def test_blurred_as_strongly_as_reencoding(subsampling: int, backend: str, tmp_path: Path) -> None:
    data = make_jpeg(textured_image(320, 240, seed=3), subsampling=subsampling, quality=95)
    box = PixelBox(96, 64, 224, 192)  # on the MCU grid, so both paths blur the same pixels
    regions = [Region(box, sigma=16.0)]
    output = check_lossless(data, regions, "gaussian", tmp_path, backend)
    original = high_frequency(decode(data), box)
    lossless = high_frequency(decode(output), box)
    reencode = high_frequency(reencoded(data, regions, "gaussian"), box)
    assert lossless < 0.1 * original
    assert lossless <= 1.25 * reencode + 0.5
    # ... and the blur is the core's: the same pixels, up to quantisation.
    difference = np.abs(decode(output).astype(int) - reencoded(data, regions, "gaussian").astype(int))
    assert difference[box.y0 : box.y1, box.x0 : box.x1].mean() < 2.0


def test_region_grows_to_the_mcu_grid(backend: str, tmp_path: Path) -> None:
    data = make_jpeg(textured_image(), subsampling=2)  # 16 x 16 MCUs
    output = check_lossless(data, [Region(PixelBox(40, 40, 50, 50), sigma=8.0)], "fill", tmp_path, backend)
    blacked = decode(output)[34:62, 34:62]  # 2 px in: decoders interpolate chroma from the neighbours
    assert blacked.max() <= 6, "the whole 32 x 32 MCU area is filled, not only the 10 x 10 box"


def test_ellipse_is_hidden_as_the_core_hides_it(backend: str, tmp_path: Path) -> None:
    data = make_jpeg(textured_image(), subsampling=0)
    box = PixelBox(40, 30, 120, 110)
    output = check_lossless(data, [Region(box, sigma=4.0, shape="ellipse")], "fill", tmp_path, backend)
    pixels = decode(output)
    assert pixels[70, 80].max() <= 6  # centre filled
    # The box's corner lies outside the ellipse: re-encoded (its MCU was touched) but not filled.
    corner = np.abs(pixels[31:35, 41:45].astype(int) - decode(data)[31:35, 41:45].astype(int))
    assert pixels[31:35, 41:45].mean() > 20 and corner.mean() < 4


def test_nothing_to_hide_returns_the_input(backend: str) -> None:
    data = make_jpeg(textured_image())
    assert blur_jpeg_blocks(data, [], "gaussian", backend=backend) == data
    assert blur_jpeg_blocks(data, [Region(PixelBox(300, 300, 400, 400), 5.0)], "gaussian", backend=backend) == data


# ----------------------------------------------------------------------------------------------------------
# Unsupported files


def _patched(data: bytes, find: bytes, replace: bytes) -> bytes:
    assert find in data
    return data.replace(find, replace, 1)


def test_arithmetic_coding_is_refused() -> None:
    data = make_jpeg(textured_image(), subsampling=2)
    with pytest.raises(LosslessUnsupported, match="arithmetic"):
        blur_jpeg_blocks(_patched(data, b"\xff\xc0", b"\xff\xc9"), [Region(PixelBox(0, 0, 9, 9), 3.0)], "gaussian")


def test_lossless_jpeg_is_refused() -> None:
    data = make_jpeg(textured_image(), subsampling=2)
    with pytest.raises(LosslessUnsupported, match="lossless"):
        blur_jpeg_blocks(_patched(data, b"\xff\xc0", b"\xff\xc3"), [Region(PixelBox(0, 0, 9, 9), 3.0)], "gaussian")


def test_twelve_bit_is_refused() -> None:
    data = make_jpeg(textured_image(), subsampling=2)
    sof = data.index(b"\xff\xc0")
    patched = data[: sof + 4] + b"\x0c" + data[sof + 5 :]
    with pytest.raises(LosslessUnsupported, match="12-bit"):
        blur_jpeg_blocks(patched, [Region(PixelBox(0, 0, 9, 9), 3.0)], "gaussian")


def test_cmyk_is_refused() -> None:
    pixels = textured_image()
    cmyk = Image.fromarray(pixels).convert("CMYK")
    buffer = io.BytesIO()
    cmyk.save(buffer, "JPEG")
    with pytest.raises(LosslessUnsupported, match="4 colour components"):
        blur_jpeg_blocks(buffer.getvalue(), [Region(PixelBox(0, 0, 9, 9), 3.0)], "gaussian")


# ----------------------------------------------------------------------------------------------------------
# Real camera-trap images (skipped where ../shared is absent)


def shared_image(name: str) -> bytes:
    path = SHARED_IMAGES / name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return path.read_bytes()


@pytest.mark.parametrize("name, boxes", [
    ("animal_md_idaho-camera-traps.jpg", [(0, 300, 130, 450), (500, 120, 700, 330)]),  # 4:2:0, edge box
    ("animal_stn_african_elephants.jpg", [(900, 500, 1300, 1200)]),  # 4:2:2, 3 MP
    ("animal_stn_african_elephants_bw.jpg", [(1700, 1300, 2048, 1536)]),  # greyscale, corner box
])
def test_real_images(name: str, boxes: list, backend: str, tmp_path: Path) -> None:
    data = shared_image(name)
    regions = [Region(PixelBox(*box), sigma=max(box[2] - box[0], box[3] - box[1]) / 8) for box in boxes]
    output = check_lossless(data, regions, "gaussian", tmp_path, backend)
    reference = reencoded(data, regions, "gaussian")
    for region in regions:
        lossless = high_frequency(decode(output), region.box)
        assert lossless < 0.5 * high_frequency(decode(data), region.box)
        assert lossless <= 1.25 * high_frequency(reference, region.box) + 0.5


def test_real_cmyk_is_refused() -> None:
    data = shared_image("animal_stn_african_elephants_cmyk.jpg")
    with pytest.raises(LosslessUnsupported):
        blur_jpeg_blocks(data, [Region(PixelBox(0, 0, 99, 99), 9.0)], "gaussian")


def test_optimised_huffman_tables_lacking_codes(backend: str, tmp_path: Path) -> None:
    """A smooth picture saved with optimised tables has no codes for large values; a filled block needs them."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    smooth = np.stack([100 + x // 8, 110 + y // 8, 120 + (x + y) // 16], axis=-1).astype(np.uint8)
    data = make_jpeg(smooth, subsampling=2, optimize=True)
    check_lossless(data, [Region(PixelBox(60, 50, 140, 120), sigma=5.0)], "fill", tmp_path, backend)


# ----------------------------------------------------------------------------------------------------------
# Failing closed, and the TurboJPEG back end's own caveats


def test_an_error_inside_the_edit_fails_the_whole_call(backend: str) -> None:
    """With TurboJPEG the blur runs inside libjpeg-turbo's filter callback: its error must fail tjTransform."""
    data = make_jpeg(textured_image(), subsampling=2)
    with pytest.raises(ValueError, match="unknown method"):
        blur_jpeg_blocks(data, [Region(PixelBox(40, 40, 90, 90), 5.0)], "no-such-method", backend=backend)


def test_truncated_file_is_refused_by_turbojpeg() -> None:
    """libjpeg-turbo only warns about a truncated scan (and pads it with zeros): a warning must fail."""
    if not jpeg_turbo.available():
        pytest.skip("libturbojpeg is not installed")
    data = make_jpeg(textured_image(), subsampling=2)
    truncated = data[: len(data) * 2 // 3] + b"\xff\xd9"
    with pytest.raises(LosslessUnsupported, match="libjpeg-turbo"):
        blur_jpeg_blocks(truncated, [Region(PixelBox(40, 40, 90, 90), 5.0)], "gaussian", backend="turbojpeg")


def test_progressive_transforms_do_not_disturb_later_ones(backend: str) -> None:
    """A fresh handle per image: a progressive edit between two baseline edits changes neither."""
    baseline = make_jpeg(textured_image(), subsampling=2)
    progressive = make_jpeg(textured_image(seed=2), subsampling=0, progressive=True)
    regions = [Region(PixelBox(40, 40, 90, 90), 5.0)]
    first = blur_jpeg_blocks(baseline, regions, "gaussian", backend=backend)
    blur_jpeg_blocks(progressive, regions, "gaussian", backend=backend)
    assert blur_jpeg_blocks(baseline, regions, "gaussian", backend=backend) == first


def test_threads_give_the_same_outputs(backend: str) -> None:
    """The library is called without the GIL and calls back into Python: concurrent edits must not mix."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [
        (make_jpeg(textured_image(320, 240, seed=seed), subsampling=seed % 3, progressive=seed % 2 == 1),
         [Region(PixelBox(20 * seed, 30, 20 * seed + 90, 150), 6.0 + seed)])
        for seed in (0, 1, 2, 4, 5, 7)  # (Pillow cannot write seed 3's progressive 4:4:4: buffer too small)
    ]
    expected = [blur_jpeg_blocks(data, regions, "gaussian", backend=backend) for data, regions in jobs]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda job: blur_jpeg_blocks(*job, "gaussian", backend=backend), jobs * 3))
    assert results == expected * 3


def test_strong_blurs_read_their_context_from_block_means(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From sigma 20 the context around the areas is decoded from DC terms: the blur must barely change."""
    from trapblur import jpeg_lossless

    data = make_jpeg(textured_image(640, 480, seed=5), subsampling=2, quality=92)
    box = PixelBox(250, 120, 390, 400)
    regions = [Region(box, sigma=30.0)]
    assert regions[0].sigma >= jpeg_lossless.DC_CONTEXT_MIN_SIGMA
    fast = check_lossless(data, regions, "gaussian", tmp_path, backend)
    monkeypatch.setattr(jpeg_lossless, "DC_CONTEXT_MIN_SIGMA", float("inf"))
    exact = check_lossless(data, regions, "gaussian", tmp_path, backend)
    assert fast != exact, "the block-mean context was not used"
    a, b = decode(fast)[box.y0 : box.y1, box.x0 : box.x1], decode(exact)[box.y0 : box.y1, box.x0 : box.x1]
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / max(mse, 1e-12)) >= 45
    reference = reencoded(data, regions, "gaussian")
    assert high_frequency(decode(fast), box) <= 1.25 * high_frequency(reference, box) + 0.5
    assert np.abs(decode(fast).astype(int) - reference.astype(int))[box.y0 : box.y1, box.x0 : box.x1].mean() < 2.0


def _eighth_scale_difference(data: bytes, regions: list[Region], method: str):
    from trapblur.jpeg_lossless import edit_jpeg_blocks

    edited = edit_jpeg_blocks(data, regions, method, "turbojpeg")
    grey = edited.eighth_scale.ndim == 2
    flags = (cv2.IMREAD_REDUCED_GRAYSCALE_8 if grey else cv2.IMREAD_REDUCED_COLOR_8) | cv2.IMREAD_IGNORE_ORIENTATION
    reference = cv2.imdecode(np.frombuffer(edited.data, np.uint8), flags)
    reference = reference if grey else reference[..., ::-1]
    assert edited.eighth_scale.shape == reference.shape
    return edited, np.abs(edited.eighth_scale.astype(int) - reference.astype(int))


@pytest.mark.parametrize("layout", ["444", "grey"])
def test_eighth_scale_picture_is_the_edited_image(layout: str) -> None:
    """TurboJPEG hands back the edited picture at 1/8 scale (for the EXIF thumbnail): without chroma
    subsampling it is what libjpeg-turbo's own 1/8-scale decode of the output gives, fill included."""
    if not jpeg_turbo.available():
        pytest.skip("libturbojpeg is not installed")
    pixels = textured_image(403, 301, seed=7)
    data = make_jpeg(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)) if layout == "grey" else make_jpeg(pixels, subsampling=0)
    edited, difference = _eighth_scale_difference(data, [Region(PixelBox(100, 60, 300, 250), 25.0)], "fill")
    assert difference.max() <= 2  # rounding: libjpeg works in integers
    assert edited.eighth_scale[9:29, 14:35].max() <= 1  # the filled region, 1 block in from its edges


@pytest.mark.parametrize("name", ["person_animlpy_B012_2021-05-27_human.jpg", "animal_md_idaho-camera-traps.jpg",
                                  "animal_stn_african_elephants.jpg"])
def test_eighth_scale_picture_of_subsampled_photographs(name: str) -> None:
    """With subsampled chroma, libjpeg-turbo's 1/8-scale decode reconstructs chroma with a 2x2 IDCT where
    trapblur interpolates DC terms: on real photographs they agree to about a grey level."""
    if not jpeg_turbo.available():
        pytest.skip("libturbojpeg is not installed")
    _, difference = _eighth_scale_difference(shared_image(name), [Region(PixelBox(100, 100, 400, 500), 30.0)],
                                             "gaussian")
    assert difference.mean() < 1.5 and np.percentile(difference, 99) <= 10
