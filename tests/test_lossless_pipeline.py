"""The block-wise JPEG path through the batch: which path each image takes, metadata, EXIF rotation, CLI."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trapblur import blur_dataset
from trapblur.cli import main
from trapblur.pipeline import REPORT_NAME

from conftest import (
    as_made_by, decode, detail_energy, make_camera_jpeg, person, segments_of, textured_pixels, write_md,
)

jpeglib = pytest.importorskip("jpeglib")

BOX = [0.1, 0.2, 0.3, 0.5]  # x 64-256, y 96-336 on 640x480


def read_rows(output: Path) -> dict[str, dict[str, str]]:
    with (output / REPORT_NAME).open(newline="") as stream:
        return {row["input"]: row for row in csv.DictReader(stream)}


def luma_blocks(path: Path) -> np.ndarray:
    """Luma DCT coefficients (rows, columns, 8, 8), read by IJG libjpeg 9e (independent of the code under test)."""
    with jpeglib.version("9e"):
        image = jpeglib.read_dct(str(path))
        image.load()
        return np.array(image.Y)


def changed_blocks(before: Path, after: Path) -> tuple[int, int, int, int, int]:
    """Bounding box (block units, half-open) of the luma blocks that differ, and how many differ."""
    differs = ~(luma_blocks(before) == luma_blocks(after)).all(axis=(2, 3))
    rows, columns = np.nonzero(differs)
    return columns.min(), rows.min(), columns.max() + 1, rows.max() + 1, int(differs.sum())


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "cams"
    images.mkdir()
    (images / "person.jpg").write_bytes(make_camera_jpeg(640, 480, seed=1))
    cmyk = Image.fromarray(textured_pixels(640, 480, seed=2)).convert("CMYK")
    buffer = io.BytesIO()
    cmyk.save(buffer, "JPEG", quality=90)
    (images / "cmyk.jpg").write_bytes(buffer.getvalue())
    results = write_md(tmp_path / "md.json", [
        {"file": "person.jpg", "detections": [person(BOX)]},
        {"file": "cmyk.jpg", "detections": [person(BOX)]},
    ])
    return images, results


def test_report_says_which_path_each_image_took(folder: tuple[Path, Path], tmp_path: Path) -> None:
    images, results = folder
    output = tmp_path / "share"
    blur_dataset(images, results, output, jpeg_mode="lossless")
    rows = read_rows(output)
    assert rows["person.jpg"]["action"] == "blurred" and rows["person.jpg"]["encoding"] == "lossless"
    assert rows["cmyk.jpg"]["action"] == "blurred" and rows["cmyk.jpg"]["encoding"] == "reencode"
    assert "cannot be edited block-wise" in rows["cmyk.jpg"]["reason"]
    assert detail_energy(decode(output / "cmyk.jpg")[110:320, 80:240]) < 0.1 * detail_energy(
        decode(images / "cmyk.jpg")[110:320, 80:240])

    # Only the blocks under the (MCU-grown) box changed, and the box is blurred.
    x0, y0, x1, y1, count = changed_blocks(images / "person.jpg", output / "person.jpg")
    assert (x0, y0, x1, y1) == (4, 8, 36, 46)  # padded box x 44-276, y 72-360 grown to 16 px MCUs: 32-288, 64-368
    assert count == (x1 - x0) * (y1 - y0)
    blurred = decode(output / "person.jpg")[80:350, 52:268]
    assert detail_energy(blurred) < 0.1 * detail_energy(decode(images / "person.jpg")[80:350, 52:268])


def test_metadata_is_kept_and_the_thumbnail_rerendered(folder: tuple[Path, Path], tmp_path: Path) -> None:
    images, results = folder
    output = tmp_path / "share"
    blur_dataset(images, results, output, jpeg_mode="lossless")
    original, blurred = (images / "person.jpg").read_bytes(), (output / "person.jpg").read_bytes()
    before, after = segments_of(original), segments_of(blurred)
    assert [s[:2] for s in after] == [s[:2] for s in before]
    assert [s for s in after if s[:2] == b"\xff\xfe"] == [s for s in before if s[:2] == b"\xff\xfe"]
    thumb_before = Image.open(io.BytesIO(original)).getexif().get_ifd(0x0001)  # IFD1 exists
    assert thumb_before is not None
    # The EXIF thumbnail now shows the blurred image: its box area lost its detail.
    start = blurred.index(b"\xff\xd8\xff", 4)
    thumbnail = decode(blurred[start:])
    old_thumbnail = decode(original[original.index(b"\xff\xd8\xff", 4):])
    area = (slice(27, 78), slice(18, 62))  # the box at 160 x 120
    assert detail_energy(thumbnail[area]) < 0.5 * detail_energy(old_thumbnail[area])


def test_reencode_mode_and_cli_flag(folder: tuple[Path, Path], tmp_path: Path) -> None:
    images, results = folder
    blur_dataset(images, results, tmp_path / "api", jpeg_mode="reencode")
    assert {row["encoding"] for row in read_rows(tmp_path / "api").values()} == {"reencode"}
    status = main(["blur", str(images), "--results", str(results), "--out", str(tmp_path / "cli"),
                   "--jpeg-mode", "reencode", "-q"])
    assert status == 0
    assert read_rows(tmp_path / "cli")["person.jpg"]["encoding"] == "reencode"
    status = main(["blur", str(images), "--results", str(results), "--out", str(tmp_path / "cli2"), "-q"])
    assert read_rows(tmp_path / "cli2")["person.jpg"]["encoding"] == "lossless"  # the default


def test_bad_jpeg_mode_is_refused(folder: tuple[Path, Path], tmp_path: Path) -> None:
    images, results = folder
    from trapblur import OptionsError

    with pytest.raises(OptionsError, match="jpeg_mode"):
        blur_dataset(images, results, tmp_path / "o", jpeg_mode="fast")


def test_exif_rotated_image_edits_the_same_blocks_as_upright(
    shared_images: Path, shared_md: Path, tmp_path: Path
) -> None:
    """MegaDetector's boxes are upright, edits are in the stored frame: both copies must change the same
    (rotated) blocks."""
    output = tmp_path / "share"
    results = as_made_by(shared_md / "orientation_check.md.json", tmp_path / "md_v5.json")
    blur_dataset(shared_images, results, output, jpeg_mode="lossless")
    rows = read_rows(output)
    upright_name = "animal_stn_african_elephants.jpg"
    rotated_name = "animal_stn_african_elephants_with_exif_orientation.jpg"
    assert rows[upright_name]["encoding"] == rows[rotated_name]["encoding"] == "lossless"
    ux0, uy0, ux1, uy1, ucount = changed_blocks(shared_images / upright_name, output / upright_name)
    rx0, ry0, rx1, ry1, rcount = changed_blocks(shared_images / rotated_name, output / rotated_name)
    assert ucount == (ux1 - ux0) * (uy1 - uy0) and rcount == (rx1 - rx0) * (ry1 - ry0)  # one solid rectangle
    # Orientation 6: stored x = upright y, stored y = (upright width - upright x). Upright is 256 x 192 blocks.
    upright_in_stored = (uy0, 256 - ux1, uy1, 256 - ux0)
    assert np.allclose((rx0, ry0, rx1, ry1), upright_in_stored, atol=2)  # MCU rounding differs by layout
