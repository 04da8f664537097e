"""``trapblur export``: exit status, messages, and the options reaching the library."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from trapblur import blur_dataset
from trapblur.cli import main

from _camtrap_validate import camtrap_standard
from _export_support import camera_jpeg
from conftest import person, write_md


@pytest.fixture
def shareable(tmp_path: Path) -> Path:
    cams = tmp_path / "cams" / "c1"
    cams.mkdir(parents=True)
    for index in range(3):
        (cams / f"{index}.jpg").write_bytes(camera_jpeg(800, 600, index, f"2024:05:01 06:12:3{index}"))
    results = write_md(tmp_path / "md.json", [
        {"file": "c1/0.jpg", "detections": [person([0.1, 0.1, 0.3, 0.6], 0.8)]},
        {"file": "c1/1.jpg", "detections": []},
        {"file": "c1/2.jpg", "detections": []},
    ])
    share = tmp_path / "share"
    blur_dataset(tmp_path / "cams", results, share)
    return share


def test_zooniverse_exit_zero_and_options_reach_the_export(shareable: Path, tmp_path: Path, capsys) -> None:
    upload = tmp_path / "up"
    status = main(["export", "zooniverse", str(shareable), "--out", str(upload), "--max-side", "400",
                   "--burst-gap", "0.5s", "--keep-metadata", "DateTimeOriginal,Make", "--exclude-people", "-q"])
    assert status == 0
    out = capsys.readouterr().out
    assert "2 images in 2 subjects" in out and "1 excluded" in out and "panoptes subject-set upload-subjects" in out
    with (upload / "set_001" / "manifest.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["#original_1"] for r in rows] == ["c1/1.jpg", "c1/2.jpg"]
    with Image.open(upload / "set_001" / rows[0]["image_1"]) as image:
        assert max(image.size) == 400
        assert image.getexif().get(0x010F) == "RECONYX"


def test_zooniverse_exit_one_when_an_image_is_withheld(shareable: Path, tmp_path: Path, capsys) -> None:
    status = main(["export", "zooniverse", str(shareable), "--out", str(tmp_path / "up"), "--max-bytes", "3000",
                   "--max-side", "800", "-q"])
    assert status == 1
    assert "3 withheld" in capsys.readouterr().out


@pytest.mark.parametrize("arguments, message", [
    (["--keep-metadata", "BodySerialNumber"], "never exported"),
    (["--max-bytes", "2000000"], "panoptes-cli refuses larger files"),
    (["--burst-gap", "soon"], "burst_gap"),
])
def test_zooniverse_exit_two_on_bad_options(shareable: Path, tmp_path: Path, capsys, arguments: list[str],
                                            message: str) -> None:
    status = main(["export", "zooniverse", str(shareable), "--out", str(tmp_path / "up"), *arguments])
    assert status == 2 and message in capsys.readouterr().err


def test_camtrap_dp_exit_status(tmp_path: Path, capsys) -> None:
    standard = camtrap_standard()
    media = standard / "example" / "media"
    results = write_md(tmp_path / "md.json", [{"file": p.name, "detections": []} for p in sorted(media.iterdir())])
    share = tmp_path / "share"
    blur_dataset(media, results, share)
    package = standard / "example" / "datapackage.json"
    status = main(["export", "camtrap-dp", str(share), "--package", str(package), "--out", str(tmp_path / "p")])
    assert status == 1  # the example's remote media were never checked: made private
    assert "10 media public" in capsys.readouterr().out
    status = main(["export", "camtrap-dp", str(share), "--package", str(package), "--out", str(tmp_path / "p"),
                   "--unmatched", "keep"])
    assert status == 1
    broken = tmp_path / "broken.json"
    descriptor = json.loads(package.read_text())
    del descriptor["taxonomic"]
    broken.write_text(json.dumps(descriptor))
    status = main(["export", "camtrap-dp", str(share), "--package", str(broken), "--out", str(tmp_path / "q")])
    assert status == 2 and "broken.json: not a valid Camtrap DP package: required field 'taxonomic'" in capsys.readouterr().err


def test_help_lists_the_export_commands() -> None:
    output = subprocess.run([sys.executable, "-m", "trapblur", "export", "--help"], capture_output=True, text=True,
                            check=True).stdout
    assert "zooniverse" in output and "camtrap-dp" in output
