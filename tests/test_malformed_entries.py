"""One bad entry fails one image, never the dataset; degenerate boxes fail their image, never a 1 px strip."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from trapblur import Detection, ImageEntry, Results, blur_dataset, read_results
from trapblur.cli import main
from trapblur.pipeline import REPORT_NAME, RESULTS_NAME

from conftest import decode, detail_energy, make_camera_jpeg, person, write_md

BOX = [0.2, 0.25, 0.3, 0.5]
INSIDE = (slice(70, 170), slice(75, 150))  # inside BOX on 320x240


def _rows(output: Path) -> dict[str, dict[str, str]]:
    with (output / REPORT_NAME).open(newline="") as stream:
        return {row["input"]: row for row in csv.DictReader(stream)}


def _images(root: Path, names: list[str], width: int = 320, height: int = 240, orientation: int = 1) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(names):
        (root / name).write_bytes(make_camera_jpeg(width, height, seed=seed, orientation=orientation))


BAD_ENTRIES = {
    "null_bbox.jpg": ({"detections": [person(BOX, 0.9) | {"bbox": None}]}, "detections[0]: 'bbox' must be 4 numbers"),
    "text_conf.jpg": ({"detections": [person(BOX) | {"conf": "0.9"}]}, "detections[0]: 'conf' must be a number"),
    "unknown_cat.jpg": ({"detections": [person(BOX), {"category": "7", "conf": 0.9, "bbox": BOX}]},
                        "detections[1]: category '7' is not in detection_categories"),
    "detections_text.jpg": ({"detections": "none"}, "'detections' must be a list or null"),
    "nan_bbox.jpg": ({"detections": [person([0.2, float("nan"), 0.3, 0.5])]}, "'bbox' must be 4 numbers"),
    "three_numbers.jpg": ({"detections": [person([0.2, 0.3, 0.5])]}, "'bbox' must be 4 numbers"),
}


def test_malformed_entries_fail_their_images_and_the_batch_goes_on(tmp_path: Path, capsys) -> None:
    images = tmp_path / "cams"
    _images(images, ["person.jpg", "empty.jpg", "unlisted.jpg", *BAD_ENTRIES])
    entries = [
        {"file": "person.jpg", "detections": [person(BOX, 0.9)]},
        {"file": "empty.jpg", "detections": []},
        *({"file": name, **entry} for name, (entry, _) in BAD_ENTRIES.items()),
        {"file": 42, "detections": []},
        ["not", "an", "object"],
    ]
    results = tmp_path / "md.json"
    results.write_text(json.dumps({"info": {"format_version": "1.4"},
                                   "detection_categories": {"1": "animal", "2": "person"}, "images": entries}))
    output = tmp_path / "share"
    # An earlier run's output of a now-malformed image must not survive.
    output.mkdir()
    status = main(["blur", str(images), "--results", str(results), "--out", str(output), "-q", "--copy-unlisted",
                   "--overwrite"])
    assert status == 1
    summary = capsys.readouterr().out
    assert "6 failed" in summary and "2 malformed" in summary
    # The summary counts malformed entries together; the report names each one.
    assert "6 x malformed results entry (the report names each entry's index and field)" in summary

    rows = _rows(output)
    assert rows["person.jpg"]["action"] == "blurred" and rows["empty.jpg"]["action"] == "copied"
    original, blurred = decode(images / "person.jpg"), decode(output / "person.jpg")
    assert detail_energy(blurred[INSIDE]) < 0.1 * detail_energy(original[INSIDE])
    for index, (name, (_, field)) in enumerate(BAD_ENTRIES.items(), start=2):
        assert rows[name]["action"] == "failed", name
        assert f"images[{index}] ('{name}')" in rows[name]["reason"] and field in rows[name]["reason"], rows[name]
        assert not (output / name).exists()
    n = len(entries)
    assert rows[f"images[{n - 2}]"]["action"] == "malformed" and "'file' must be a non-empty string, got 42" in rows[f"images[{n - 2}]"]["reason"]
    assert rows[f"images[{n - 1}]"]["action"] == "malformed" and "must be an object, not a list" in rows[f"images[{n - 1}]"]["reason"]
    # A nameless entry may be the unlisted image's: it is withheld even with --copy-unlisted.
    assert rows["unlisted.jpg"]["action"] == "withheld" and "2 results entries name no usable file" in rows["unlisted.jpg"]["reason"]
    assert not (output / "unlisted.jpg").exists()
    # The output's results describe exactly the written images.
    assert sorted(e.file for e in read_results(output / RESULTS_NAME).images) == ["empty.jpg", "person.jpg"]


def test_one_bad_bbox_in_the_shared_results(shared_images: Path, shared_md: Path, tmp_path: Path) -> None:
    document = json.loads((shared_md / "shared_images.md.json").read_text())
    target = "person_animlr_Peru_S90_SDZG2_EK000008.JPG"
    entry = next(e for e in document["images"] if e["file"] == target)
    entry["detections"][1]["bbox"] = None
    corrupted = tmp_path / "one_bad.json"
    corrupted.write_text(json.dumps(document))
    good = blur_dataset(shared_images, shared_md / "shared_images.md.json", tmp_path / "good")
    report = blur_dataset(shared_images, corrupted, tmp_path / "bad")
    rows = _rows(tmp_path / "bad")
    assert rows[target]["action"] == "failed" and "detections[1]: 'bbox'" in rows[target]["reason"]
    assert not (tmp_path / "bad" / target).exists()
    assert report.counts["failed"] == good.counts["failed"] + 1
    assert report.counts["blurred"] == good.counts["blurred"] - 1
    good_rows = _rows(tmp_path / "good")
    for name, row in rows.items():
        if name != target:
            assert row["action"] == good_rows[name]["action"], name


@pytest.mark.parametrize(
    "document, expected",
    [
        ("{\"images\": [", "not valid JSON"),
        ('{"detection_categories": {"2": "person"}, "images": "a.jpg"}', "'images' must be a list"),
        ('{"images": [{"file": "a.jpg", "detections": []}]}', "'detection_categories' is missing"),
        ('["a.jpg"]', "top level must be a JSON object"),
    ],
)
def test_file_level_faults_still_refuse(tmp_path: Path, capsys, document: str, expected: str) -> None:
    _images(tmp_path / "cams", ["a.jpg"])
    (tmp_path / "md.json").write_text(document)
    assert main(["blur", str(tmp_path / "cams"), "--results", str(tmp_path / "md.json"),
                 "--out", str(tmp_path / "share"), "-q"]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "share").exists()


# ----------------------------------------------------------------------------------------------------------
# Degenerate boxes


@pytest.mark.parametrize(
    "bbox",
    [
        [0.5, 0.4, 0.0, 0.3],      # zero width
        [0.5, 0.4, 0.3, 0.0],      # zero height
        [0.5, 0.4, 0.002, 0.3],    # 0.64 px wide on 320
        [0.5, 0.4, 0.3, 0.003],    # 0.72 px tall on 240
        [1.2, 0.4, 0.1, 0.1],      # right of the frame
        [-0.5, 0.2, 0.3, 0.3],     # left of the frame
        [0.2, 1.0, 0.3, 0.3],      # starts at the bottom edge
        [0.999, 0.2, 0.3, 0.3],    # 0.32 px of it inside the frame
    ],
)
def test_a_degenerate_selected_box_fails_the_image(tmp_path: Path, bbox: list[float]) -> None:
    images = tmp_path / "cams"
    _images(images, ["a.jpg", "b.jpg"])
    results = write_md(tmp_path / "md.json", [{"file": "a.jpg", "detections": [person(BOX, 0.9), person(bbox, 0.8)]},
                                              {"file": "b.jpg", "detections": []}])
    output = tmp_path / "share"
    report = blur_dataset(images, results, output)
    row = _rows(output)["a.jpg"]
    assert row["action"] == "failed" and "empty box" in row["reason"], row
    assert not (output / "a.jpg").exists() and report.counts["copied"] == 1


def test_degenerate_boxes_in_the_stored_frame_of_a_rotated_image(tmp_path: Path) -> None:
    """Orientation 6: the upright image is 240 wide, so 0.003 of its width is 0.72 px (1.9 px if unrotated)."""
    images = tmp_path / "cams"
    _images(images, ["rotated.jpg"], 640, 240, orientation=6)
    results = write_md(tmp_path / "md.json", [{"file": "rotated.jpg", "detections": [person([0.4, 0.4, 0.003, 0.3])]}])
    blur_dataset(images, results, tmp_path / "share")
    assert _rows(tmp_path / "share")["rotated.jpg"]["action"] == "failed"


def test_nan_boxes_and_confidences_built_in_memory(tmp_path: Path) -> None:
    images = tmp_path / "cams"
    _images(images, ["nan_box.jpg", "nan_conf.jpg", "ok.jpg"])
    results = Results(images=[
        ImageEntry("nan_box.jpg", (Detection("person", 0.9, (0.2, math.nan, 0.3, 0.5)),)),
        ImageEntry("nan_conf.jpg", (Detection("person", math.nan, tuple(BOX)),)),  # type: ignore[arg-type]
        ImageEntry("ok.jpg", ()),
    ])
    blur_dataset(images, results, tmp_path / "share")
    rows = _rows(tmp_path / "share")
    assert rows["nan_box.jpg"]["action"] == "failed" and "not a number" in rows["nan_box.jpg"]["reason"]
    # A confidence that is not a number is not "below the threshold": the box is hidden.
    assert rows["nan_conf.jpg"]["action"] == "blurred"
    original, blurred = decode(images / "nan_conf.jpg"), decode(tmp_path / "share" / "nan_conf.jpg")
    assert detail_energy(blurred[INSIDE]) < 0.1 * detail_energy(original[INSIDE])


def test_unselected_degenerate_boxes_do_not_stop_a_copy(tmp_path: Path) -> None:
    images = tmp_path / "cams"
    _images(images, ["a.jpg"])
    results = write_md(tmp_path / "md.json", [{"file": "a.jpg", "detections": [
        {"category": "1", "conf": 0.9, "bbox": [0.5, 0.5, 0.0, 0.0]},  # an animal: not selected
        person([0.5, 0.5, 0.0, 0.2], 0.01),                               # below the threshold
    ]}])
    report = blur_dataset(images, results, tmp_path / "share")
    assert report.ok and (tmp_path / "share" / "a.jpg").read_bytes() == (images / "a.jpg").read_bytes()
