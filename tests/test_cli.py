"""The trapblur command: exit status, messages, and the options reaching the library."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from trapblur.cli import main, parse_threshold
from trapblur.errors import TrapblurError
from trapblur.pipeline import REPORT_NAME

from conftest import make_camera_jpeg, person, write_md


@pytest.fixture
def small_folder(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "cams"
    images.mkdir()
    (images / "a.jpg").write_bytes(make_camera_jpeg(320, 240, seed=1))
    (images / "b.jpg").write_bytes(make_camera_jpeg(320, 240, seed=2))
    results = write_md(tmp_path / "md.json", [
        {"file": "a.jpg", "detections": [person([0.1, 0.1, 0.3, 0.6], 0.15)]},
        {"file": "b.jpg", "detections": []},
    ])
    return images, results


def test_exit_zero_when_every_image_is_written(small_folder: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    images, results = small_folder
    status = main(["blur", str(images), "--results", str(results), "--out", str(tmp_path / "o"), "-q"])
    assert status == 0
    out = capsys.readouterr().out
    assert "2 images: 1 blurred, 1 copied, 0 withheld, 0 failed" in out
    assert "images/s" in out


def test_exit_one_when_images_are_withheld(small_folder: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    images, results = small_folder
    (images / "c.jpg").write_bytes(make_camera_jpeg(64, 48))
    status = main(["blur", str(images), "--results", str(results), "--out", str(tmp_path / "o"), "-q"])
    assert status == 1
    assert "not in the results file" in capsys.readouterr().out


def test_threshold_option_reaches_the_policy(small_folder: tuple[Path, Path], tmp_path: Path) -> None:
    images, results = small_folder
    assert main(["blur", str(images), "--results", str(results), "--out", str(tmp_path / "o"), "--threshold", "0.2", "-q"]) == 0
    with (tmp_path / "o" / REPORT_NAME).open() as stream:
        actions = {row["input"]: row["action"] for row in csv.DictReader(stream)}
    assert actions == {"a.jpg": "copied", "b.jpg": "copied"}  # the person at 0.15 is below 0.2


def test_exit_two_with_a_message_for_bad_input(small_folder: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    images, results = small_folder
    assert main(["blur", str(images), "--results", str(tmp_path / "none.json"), "--out", str(tmp_path / "o")]) == 2
    assert "none.json: results file not found" in capsys.readouterr().err
    assert main(["blur", str(images), "--results", str(results), "--out", str(tmp_path / "o"), "--strength", "-1"]) == 2
    assert "strength must be a number greater than 0" in capsys.readouterr().err
    assert main(["blur", str(images), "--results", str(results), "--out", str(images / "x")]) == 2
    assert "must not be inside the image folder" in capsys.readouterr().err


def test_per_category_thresholds_parse() -> None:
    assert parse_threshold("0.3") == 0.3
    assert parse_threshold("person=0.05,vehicle=0.2") == {"person": 0.05, "vehicle": 0.2}
    with pytest.raises(TrapblurError, match="--threshold"):
        parse_threshold("high")


def test_help_explains_options_with_examples() -> None:
    completed = subprocess.run([sys.executable, "-m", "trapblur", "blur", "--help"], capture_output=True, text=True)
    assert completed.returncode == 0
    for text in ("--threshold", "--strength", "--padding", "--copy-unlisted", "examples:", "exit status"):
        assert text in completed.stdout
