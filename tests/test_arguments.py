"""Argument types at every public entry point: NumPy scalars work as numbers (R and numpy users pass them);
anything else of the wrong kind is an OptionsError naming the argument, never a TypeError or a truthy guess."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import trapblur
from trapblur import BlurOptions, Detection, OptionsError, WeakBlurWarning, blur_dataset, blur_image, read_results

from _fs_support import cli
from conftest import decode, detail_energy, make_camera_jpeg, person, write_md

BOX = [0.1, 0.2, 0.3, 0.5]


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "cameras"
    images.mkdir()
    (images / "a.jpg").write_bytes(make_camera_jpeg(640, 480, seed=1))
    (images / "b.jpg").write_bytes(make_camera_jpeg(640, 480, seed=2))
    (images / "unlisted.jpg").write_bytes(make_camera_jpeg(64, 48, seed=3))
    results = write_md(tmp_path / "md.json", [{"file": "a.jpg", "detections": [person(BOX, 0.5)]},
                                              {"file": "b.jpg", "detections": []}])
    return images, results


@pytest.mark.parametrize("name", ["copy_unlisted", "link_unchanged", "overwrite"])
@pytest.mark.parametrize("value", ["false", "no", 0, 1, None, [], "True"])
def test_flags_must_be_booleans_not_truthy_values(dataset, tmp_path, name, value) -> None:
    images, results = dataset
    with pytest.raises(OptionsError, match=re.escape(f"{name} must be True or False, not {value!r}")):
        blur_dataset(images, results, tmp_path / "out", **{name: value})
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_copy_unlisted_string_false_does_not_copy_the_unchecked_image(dataset, tmp_path) -> None:
    images, results = dataset
    with pytest.raises(OptionsError):
        blur_dataset(images, results, tmp_path / "out", copy_unlisted="false")
    report = blur_dataset(images, results, tmp_path / "out", copy_unlisted=np.bool_(False))
    assert report.counts["withheld"] == 1 and not (tmp_path / "out" / "unlisted.jpg").exists()


def test_numpy_scalars_are_numbers(dataset, tmp_path) -> None:
    images, results = dataset
    report = blur_dataset(images, results, tmp_path / "out", threshold=np.float32(0.2), strength=np.float64(1.5),
                          padding=np.float32(0.1), workers=np.int64(2), copy_unlisted=np.bool_(True))
    assert report.counts["blurred"] == 1 and report.counts["copied"] == 2
    before, after = decode(images / "a.jpg"), decode(tmp_path / "out" / "a.jpg")
    assert detail_energy(after[96:336, 64:256]) < 0.3 * detail_energy(before[96:336, 64:256])
    options = BlurOptions(threshold={"person": np.float32(0.25)}, strength=np.int64(2), padding=np.float32(0.5))
    assert type(options.strength) is float and type(options.padding) is float
    assert options.threshold_for("person") == pytest.approx(0.25) and type(options.threshold_for("person")) is float
    assert options.describe()["strength"] == 2.0


@pytest.mark.parametrize("kwargs, message", [
    ({"strength": "1"}, "strength must be a number"),
    ({"strength": np.float32("nan")}, "strength must be a number"),
    ({"strength": True}, "strength must be a number"),
    ({"threshold": np.array([0.1, 0.2])}, "threshold for person must be a number"),
    ({"padding": None}, "padding must be a number"),
    ({"workers": 2.0}, "workers must be a whole number"),
    ({"workers": np.bool_(True)}, "workers must be a whole number"),
    ({"workers": 0}, "workers must be a whole number"),
    ({"categories": None}, "categories"),
    ({"progress": 5}, "progress must be a function"),
    ({"progress": "bar"}, "progress must be a function"),
    ({"jpeg_mode": None}, "jpeg_mode must be one of"),
])
def test_blur_dataset_bad_arguments_are_options_errors(dataset, tmp_path, kwargs, message) -> None:
    images, results = dataset
    with pytest.raises(OptionsError, match=message):
        blur_dataset(images, results, tmp_path / "out", **kwargs)


def test_paths_and_results_of_the_wrong_kind(dataset, tmp_path) -> None:
    images, results = dataset
    with pytest.raises(OptionsError, match="images must be a path .*not bytes.*os.fsdecode"):
        blur_dataset(bytes(images), results, tmp_path / "out")
    with pytest.raises(OptionsError, match="output must be a path"):
        blur_dataset(images, results, bytes(tmp_path / "out"))
    with pytest.raises(OptionsError, match="output must be a path .*not None"):
        blur_dataset(images, results, None)
    with pytest.raises(OptionsError, match="results must be a path"):
        blur_dataset(images, bytes(results), tmp_path / "out")
    with pytest.raises(OptionsError, match="results must be .* not a dict.*results_from_dict"):
        blur_dataset(images, {"images": [], "detection_categories": {}}, tmp_path / "out")
    with pytest.raises(OptionsError, match="images must be a path .*not an empty path"):
        blur_dataset("", results, tmp_path / "out")
    # The right kinds still work: a Results object, and os.PathLike paths.
    assert blur_dataset(images, read_results(results), tmp_path / "out").counts["blurred"] == 1


def test_blur_image_arguments(tmp_path) -> None:
    data = make_camera_jpeg(320, 240, seed=4)
    boxes = [Detection("person", 0.9, (0.1, 0.1, 0.4, 0.6))]
    with pytest.raises(OptionsError, match="data must be the image file's bytes, not str"):
        blur_image(str(tmp_path / "a.jpg"), boxes)
    with pytest.raises(OptionsError, match="detections must be a list of trapblur.Detection"):
        blur_image(data, [{"category": "person", "conf": 0.9, "bbox": [0.1, 0.1, 0.4, 0.6]}])
    with pytest.raises(OptionsError, match="options must be a trapblur.BlurOptions"):
        blur_image(data, boxes, {"strength": 2})
    assert blur_image(bytearray(data), boxes, BlurOptions(strength=np.float32(2.0))) != data


def test_detection_entry_points_check_before_loading_a_model(dataset, tmp_path) -> None:
    images, _ = dataset
    for kwargs, message in [({"recursive": "no"}, "recursive must be True or False"),
                            ({"resume": 1}, "resume must be True or False"),
                            ({"confidence_floor": "0.1"}, "confidence_floor must be a number"),
                            ({"batch_size": 1.5}, "batch_size must be a whole number"),
                            ({"progress": 1}, "progress must be a function"),
                            ({"output_json": b"x.json"}, "output_json must be a path"),
                            ({"model": 3}, "model must be a path")]:
        with pytest.raises(OptionsError, match=message):
            trapblur.detect(images, **kwargs)
    with pytest.raises(OptionsError, match="images must be a path"):
        trapblur.detect(None)
    for kwargs, message in [({"copy_unlisted": "false"}, "copy_unlisted must be True or False"),
                            ({"strength": "strong"}, "strength must be a number"),
                            ({"progress": 1}, "progress must be a function"),
                            ({"detect_progress": 1}, "detect_progress must be a function"),
                            ({"batch_size": 0}, "batch_size must be a whole number"),
                            ({"device": 0}, "device must be a non-empty string"),
                            ({"detections_json": b"d.json"}, "detections_json must be a path")]:
        with pytest.raises(OptionsError, match=message):
            trapblur.anonymise(images, tmp_path / "out", model="no-such-model", **kwargs)
    assert not (tmp_path / "out").exists()


def test_strength_below_one_warns_that_it_is_weaker_than_privacy_grade(dataset, tmp_path) -> None:
    images, results = dataset
    with pytest.warns(WeakBlurWarning, match="strength 0.5 is weaker than the privacy-grade default"):
        blur_dataset(images, results, tmp_path / "out", strength=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at or above 1
        BlurOptions(strength=1.0)
        BlurOptions(strength=np.float32(3))


def test_the_command_line_prints_the_weak_blur_warning_as_one_line(dataset, tmp_path) -> None:
    images, results = dataset
    proc = cli("blur", str(images), "--results", str(results), "--out", str(tmp_path / "out"), "-q",
               "--strength", "0.4", "--copy-unlisted")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "trapblur: warning: strength 0.4 is weaker than the privacy-grade default of 1: weak blurs can be undone "
        "by learned models, so faces and clothing may stay recognisable; use 1 or more for shared data"
    ]
    quiet = cli("blur", str(images), "--results", str(results), "--out", str(tmp_path / "out2"), "-q")
    assert "warning" not in quiet.stderr
