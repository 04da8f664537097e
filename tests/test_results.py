"""Reading and writing MegaDetector batch-output files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trapblur import ResultsFormatError, read_results, write_results
from trapblur.results import Detection, ImageEntry, Results

from conftest import write_md


def test_reads_every_shared_variant(shared_md: Path) -> None:
    animl = read_results(shared_md / "animl-py_md_gt.json")
    assert animl.format_version == "3.0"
    assert animl.images[0].detections[0].category == "animal"
    assert animl.images[0].detections[0].frame == 0
    assert animl.images[0].file.startswith("/home/")

    mdv4 = read_results(shared_md / "ena24_mdv4.1_format1.0.json")
    assert len(mdv4.images) == 8789
    persons = sum(d.category == "person" for e in mdv4.images for d in e.detections)
    assert persons == 809

    shared = read_results(shared_md / "shared_images.md.json")
    failed = [e for e in shared.images if not e.processed]
    assert {e.failure for e in failed} == {"image access failure"}
    assert all(e.detections is None for e in failed)


def test_categories_are_looked_up_by_name_not_id(tmp_path: Path) -> None:
    # PyTorch-Wildlife numbers person "1"; trapblur must still see a person.
    path = write_md(tmp_path / "pw.json", [{"file": "a.jpg", "max_detection_conf": "",
                                            "detections": [{"category": "1", "conf": 0.8, "bbox": [0, 0, 0.5, 0.5]}]}],
                    categories={"0": "animal", "1": "person", "2": "vehicle"})
    entry = read_results(path).images[0]
    assert entry.detections[0].category == "person"
    assert entry.max_conf("person") == 0.8


def test_missing_detections_without_failure_is_not_person_free(tmp_path: Path) -> None:
    path = write_md(tmp_path / "r.json", [{"file": "a.jpg"}, {"file": "b.jpg", "detections": []}])
    a, b = read_results(path).images
    assert not a.processed
    assert b.processed and b.detections == ()


@pytest.mark.parametrize(
    "document, expected",
    [
        ("{not json", "not valid JSON (line 1"),
        ("[]", "top level must be a JSON object"),
        ('{"images": []}', "'detection_categories' is missing"),
        ('{"detection_categories": {"2": "person"}}', "'images' is missing"),
        ('{"detection_categories": ["person"], "images": []}', "'detection_categories' must map ids to names"),
        ('{"detection_categories": {"2": "person"}, "images": {"a.jpg": []}}', "'images' must be a list"),
        ('{"detection_categories": {"2": "person"}, "images": [], "info": "v5"}', "'info' must be an object"),
    ],
)
def test_malformed_files_name_the_file_and_field(tmp_path: Path, document: str, expected: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(document)
    with pytest.raises(ResultsFormatError) as error:
        read_results(path)
    assert str(path) in str(error.value)
    assert expected in str(error.value)


@pytest.mark.parametrize(
    "image, expected",
    [
        ({"detections": []}, "images[1]: 'file' must be a non-empty string, got None"),
        ({"file": "", "detections": []}, "images[1]: 'file' must be a non-empty string"),
        ({"file": ["x.jpg"], "detections": []}, "images[1]: 'file' must be a non-empty string"),
        ("x.jpg", "images[1] must be an object, not a string"),
        ({"file": "x.jpg", "detections": [{"category": "2", "conf": 0.5, "bbox": [0, 0, 1]}]},
         "images[1] ('x.jpg'): detections[0]: 'bbox'"),
        ({"file": "x.jpg", "detections": [{"category": "2", "conf": 0.5, "bbox": None}]},
         "images[1] ('x.jpg'): detections[0]: 'bbox' must be 4 numbers"),
        ({"file": "x.jpg", "detections": [{"category": "2", "conf": 0.5, "bbox": [0, 0, "0.2", 0.2]}]}, "'bbox'"),
        ({"file": "x.jpg", "detections": [{"category": "2", "conf": 0.5, "bbox": [0, 0, -0.1, 0.2]}]},
         "must not be negative"),
        ({"file": "x.jpg", "detections": [{"category": "2", "conf": 7, "bbox": [0, 0, 1, 1]}]},
         "detections[0]: 'conf' must be"),
        ({"file": "x.jpg", "detections": [{"category": "2", "conf": None, "bbox": [0, 0, 1, 1]}]}, "'conf'"),
        ({"file": "x.jpg", "detections": [{"category": "2", "conf": True, "bbox": [0, 0, 1, 1]}]}, "'conf'"),
        ({"file": "x.jpg", "detections": [{"category": "9", "conf": 0.5, "bbox": [0, 0, 1, 1]}]},
         "category '9' is not in detection_categories"),
        ({"file": "x.jpg", "detections": [{"conf": 0.5, "bbox": [0, 0, 1, 1]}]}, "'category' must be"),
        ({"file": "x.jpg", "detections": {"category": "2"}}, "'detections' must be a list or null"),
        ({"file": "x.jpg", "detections": [None]}, "detections[0] must be an object"),
        ({"file": "x.jpg", "detections": [{"category": "2", "conf": 0.5, "bbox": [0, 0, 1, 1],
                                           "classifications": [["1", "high"]]}]}, "classifications[0] must be"),
        ({"file": "x.jpg", "detections": [{"category": "2", "conf": 0.5, "bbox": [0, 0, 1, 1],
                                           "classifications": "human"}]}, "'classifications' must be a list"),
    ],
)
def test_a_malformed_entry_marks_that_entry_not_the_file(tmp_path: Path, image: object, expected: str) -> None:
    good = {"file": "good.jpg", "detections": [{"category": "2", "conf": 0.5, "bbox": [0.1, 0.1, 0.2, 0.2]}]}
    path = tmp_path / "one_bad.json"
    path.write_text(json.dumps({"detection_categories": {"2": "person"}, "images": [good, image, good]}))
    first, bad, last = read_results(path).images
    assert first.processed and last.processed and first.max_conf("person") == 0.5
    assert not bad.processed and bad.detections is None
    assert expected in bad.problem


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsFormatError, match="results file not found"):
        read_results(tmp_path / "nope.json")


def test_write_round_trips_as_format_1_5(tmp_path: Path) -> None:
    results = Results(
        images=[
            ImageEntry("b/2.jpg", (Detection("person", 0.12345, (0.1, 0.2, 0.3, 0.4)),
                                   Detection("animal", 0.9, (0.5, 0.5, 0.1, 0.1)))),
            ImageEntry("a/1.jpg", ()),
            ImageEntry("c.jpg", None, "image access failure"),
        ],
        info={"detector": "test"},
    )
    path = write_results(results, tmp_path / "out.json")
    document = json.loads(path.read_text())
    assert document["info"]["format_version"] == "1.5"
    assert document["detection_categories"] == {"1": "animal", "2": "person", "3": "vehicle"}
    assert [i["file"] for i in document["images"]] == ["a/1.jpg", "b/2.jpg", "c.jpg"]
    first = document["images"][1]["detections"]
    assert [d["conf"] for d in first] == [0.9, 0.123]  # sorted by conf, 3 decimals
    assert document["images"][2] == {"file": "c.jpg", "failure": "image access failure", "detections": None}
    again = read_results(path)
    assert again.images[1].detections[1].category == "person"
    assert not again.images[2].processed
