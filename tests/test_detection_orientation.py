"""``trapblur run`` on turned copies of a real photograph: the detector sees each copy as displayed, writes
that frame into its results, and the blur lands on the same animals in every copy (JPEG, PNG, TIFF; all
eight orientation values), with no ambiguity."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from _detection_support import SHARED_IMAGES, YOLOX

pytest.importorskip("onnxruntime")

import trapblur  # noqa: E402
from trapblur.frames import FRAME_MARKER_KEY  # noqa: E402
from trapblur.pipeline import REPORT_NAME  # noqa: E402
from trapblur.report import read_report  # noqa: E402

from test_orientation import make_file, stored_for  # noqa: E402

SUFFIX = {"JPEG": "jpg", "PNG": "png", "TIFF-tiff_lzw": "tif"}


@pytest.fixture(scope="module")
def turned_copies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = SHARED_IMAGES / "animal_stn_african_elephants.jpg"
    if not source.is_file() or not YOLOX.is_file():
        pytest.skip("the shared elephants photo and yolox_nano.onnx are needed")
    upright = Image.open(source).convert("RGB").resize((1024, 768), Image.Resampling.LANCZOS)
    folder = tmp_path_factory.mktemp("turned") / "cams"
    folder.mkdir()
    for kind, suffix in SUFFIX.items():
        for orientation in range(1, 9):
            data = make_file(kind, stored_for(upright, orientation), orientation)
            (folder / f"{suffix}_o{orientation}.{suffix}").write_bytes(data)
    return folder


def hidden_mask(before: Path, after: Path) -> np.ndarray:
    """Where the output was filled black, in the *displayed* picture (read with Pillow's exif_transpose)."""
    shown_before = np.asarray(ImageOps.exif_transpose(Image.open(before)).convert("L"), int)
    shown_after = np.asarray(ImageOps.exif_transpose(Image.open(after)).convert("L"), int)
    assert shown_before.shape == shown_after.shape == (768, 1024)  # displayed the same way up as the input
    return (shown_after < 8) & (shown_before > 30)


def test_run_blurs_the_same_animals_in_every_turned_copy(turned_copies: Path, tmp_path: Path) -> None:
    output = tmp_path / "share"
    detections = tmp_path / "detections.json"
    trapblur.anonymise(turned_copies, output, model=str(YOLOX), detections_json=detections,
                       categories=["animal"], threshold=0.3, method="fill", padding=0.0)
    document = json.loads(detections.read_text())
    assert document["info"][FRAME_MARKER_KEY]["rule"] == "exif-orientation"
    rows = {row.input: row for row in read_report(output / REPORT_NAME)}
    references = {suffix: hidden_mask(turned_copies / f"{suffix}_o1.{suffix}", output / f"{suffix}_o1.{suffix}")
                  for suffix in SUFFIX.values()}
    assert all(mask.mean() > 0.01 for mask in references.values())  # elephants were found and hidden
    for name, row in rows.items():
        assert row.action == "blurred" and "ambiguous" not in row.reason, (name, row.reason)
        mask = hidden_mask(turned_copies / name, output / name)
        reference = references[name.split("_")[0]]
        iou = (mask & reference).sum() / (mask | reference).sum()
        assert iou > 0.95, (name, iou)  # measured: 1.0 for PNG and TIFF, 0.999 for JPEG
        written = (output / name).read_bytes()
        original = (turned_copies / name).read_bytes()
        orientation = int(name.split("_o")[1][0])
        reader = Image.open(io.BytesIO(written))
        tags = reader.tag_v2 if hasattr(reader, "tag_v2") else reader.getexif()
        assert tags.get(274) == orientation == Image.open(io.BytesIO(original)).getexif().get(274)
    # Blurring again from the detections file alone maps exactly the same way (the frame is recorded).
    again = tmp_path / "again"
    trapblur.blur_dataset(turned_copies, detections, again, categories=["animal"], threshold=0.3,
                          method="fill", padding=0.0)
    for name in rows:
        assert (again / name).read_bytes() == (output / name).read_bytes(), name
