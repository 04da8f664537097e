"""A reviewer's corrections: reading and checking the CSV, applying it, and the re-run that uses it."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from trapblur import blur_dataset
from trapblur.cli import main
from trapblur.corrections import (
    ImageCorrection, apply_to_entry, corrections_csv, match_corrections, parse_corrections, read_corrections,
)
from trapblur.errors import CorrectionsFormatError
from trapblur.pipeline import REPORT_NAME
from trapblur.results import Detection, ImageEntry

from conftest import decode, detail_energy, make_camera_jpeg, person, write_md

MISSED = [0.55, 0.15, 0.25, 0.5]  # a person the detector missed: x 352-512, y 72-312 on 640x480


def rows_of(output: Path) -> dict[str, dict[str, str]]:
    with (output / REPORT_NAME).open(newline="") as stream:
        return {row["input"]: row for row in csv.DictReader(stream)}


def write_corrections(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["file", "action", "box", "note"])
        writer.writerows(rows)
    return path


# ----------------------------------------------------------------------------------------------------------
# Reading


def test_rows_are_checked_one_by_one_with_messages_naming_the_row() -> None:
    text = (
        "\ufeffFile,Action,Box,Note\n"  # Excel's BOM and capitalised headers
        "a.jpg,box,\"[0.1, 0.2, 0.3, 0.4]\",hiker\n"
        "b.jpg,Blur Image,,\n"
        "c.jpg,blur_box,0.5 0.5 0.2 0.2,\n"
        "d.jpg,withhold,,my car\n"
        "e.jpg,delete,,\n"
        "f.jpg,box,\"[100, 40, 30, 80]\",\n"
        "g.jpg,box,,\n"
        "h.jpg,box,\"[0.9, 0.1, 0.3, 0.1]\",\n"
        "i.jpg,box,\"[0.1, 0.1, 0, 0.1]\",\n"
        ",accept,,\n"
        "\n"
        "j.jpg,accept,,looked\n"
    )
    read = parse_corrections(text, source="fix.csv")
    assert [(c.row, c.file, c.action, c.box, c.note) for c in read.rows] == [
        (2, "a.jpg", "box", (0.1, 0.2, 0.3, 0.4), "hiker"),
        (3, "b.jpg", "blur-image", None, ""),
        (4, "c.jpg", "box", (0.5, 0.5, 0.2, 0.2), ""),
        (5, "d.jpg", "withhold", None, "my car"),
        (13, "j.jpg", "accept", None, "looked"),
    ]
    problems = {p.row: p for p in read.problems}
    assert sorted(problems) == [6, 7, 8, 9, 10, 11]
    assert "unknown action 'delete'" in problems[6].message and "blur-image" in problems[6].message
    assert "out of range" in problems[7].message and "pixel coordinates" in problems[7].message
    assert "needs a box" in problems[8].message
    assert "out of range" in problems[9].message
    assert "no area" in problems[10].message
    assert problems[11].file == "" and "no file" in problems[11].message
    assert problems[7].describe("fix.csv") == f"fix.csv: row 7 ('f.jpg'): {problems[7].message}"


@pytest.mark.parametrize("text, message", [
    ("", "empty file"),
    ("name,what\nx.jpg,box\n", "missing file, action"),
    ("file,box\nx.jpg,[0,0,1,1]\n", "missing action"),
])
def test_a_file_without_the_needed_columns_is_refused_whole(text: str, message: str) -> None:
    with pytest.raises(CorrectionsFormatError, match=message):
        parse_corrections(text, source="fix.csv")


def test_unreadable_files_are_refused_with_their_name(tmp_path: Path) -> None:
    with pytest.raises(CorrectionsFormatError, match="not found"):
        read_corrections(tmp_path / "nothing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("file,action\ncaf\xe9.jpg,accept\n".encode("latin-1"))
    with pytest.raises(CorrectionsFormatError, match="latin.csv: not a UTF-8"):
        read_corrections(latin)


def test_matching_names_like_the_report_and_reporting_the_rest() -> None:
    read = parse_corrections(
        "file,action,box\n"
        "site A\\cam1\\a.jpg,box,\"0.1,0.1,0.2,0.2\"\n"  # Windows separators
        "./site A/cam1/B.JPG,withhold,\n"  # case differs from the folder's b.jpg
        "D:/cams/site A/cam1/a.jpg,blur-image,\n"  # absolute path from another machine
        "site A/cam1/zzz.jpg,accept,\n"  # no such image
        "../outside.jpg,withhold,\n"  # climbs out
        "site A/cam1/a.jpg,frobnicate,\n",  # bad action on a known image: it gets withheld
        source="fix.csv",
    )
    applied = match_corrections(read, ["site A/cam1/a.jpg", "site A/cam1/b.jpg"])
    a, b = applied.images["site A/cam1/a.jpg"], applied.images["site A/cam1/b.jpg"]
    assert a.rows == (2, 4, 7) and a.boxes == ((0.1, 0.1, 0.2, 0.2),) and a.blur_image
    assert a.kind == "withhold" and "unknown action 'frobnicate'" in a.describe()
    assert b.kind == "withhold" and b.withheld_reason("fix.csv") == "withheld by the reviewer (fix.csv row 3)"
    assert [(p.row, p.file) for p in applied.unmatched] == [(5, "site A/cam1/zzz.jpg"), (6, "../outside.jpg")]
    assert all("no such image" in p.message for p in applied.unmatched)
    lines = applied.problem_lines()
    assert lines[0].startswith("fix.csv: row 5 ('site A/cam1/zzz.jpg')") and len(lines) == 3


def test_applying_adds_boxes_that_pass_any_threshold_and_never_touches_a_failed_entry() -> None:
    entry = ImageEntry("a.jpg", (Detection("animal", 0.9, (0.1, 0.1, 0.1, 0.1)),))
    boxes = ImageCorrection("a.jpg", (2,), boxes=((0.5, 0.5, 0.2, 0.2),))
    corrected = apply_to_entry(entry, boxes, "person")
    assert corrected.detections[1] == Detection("person", 1.0, (0.5, 0.5, 0.2, 0.2))
    whole = apply_to_entry(entry, ImageCorrection("a.jpg", (3,), blur_image=True, boxes=((0.5, 0.5, 0.2, 0.2),)), "person")
    assert whole.detections[1:] == (Detection("person", 1.0, (0.0, 0.0, 1.0, 1.0)),)
    failed = ImageEntry("a.jpg", None, "inference failure")
    assert apply_to_entry(failed, boxes, "person") is failed
    assert apply_to_entry(entry, ImageCorrection("a.jpg", (4,), accept=True), "person") is entry


def test_what_the_page_writes_reads_back() -> None:
    read = parse_corrections("file,action,box,note\n\"we,ird \"\"name\"\".jpg\",box,\"[0.1, 0.2, 0.3, 0.4]\",\"a, b\"\n")
    again = parse_corrections(corrections_csv(read.rows))
    assert again.rows == read.rows


# ----------------------------------------------------------------------------------------------------------
# The batch with corrections


@pytest.fixture
def run_folder(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "cameras"
    (images / "cam1").mkdir(parents=True)
    for seed, name in enumerate(["missed.jpg", "seen.jpg", "empty.jpg", "mine.jpg", "whole.jpg", "unlisted.jpg"]):
        (images / "cam1" / name).write_bytes(make_camera_jpeg(640, 480, seed=seed))
    results = write_md(tmp_path / "md.json", [
        {"file": "cam1/missed.jpg", "detections": [person(MISSED, 0.03)]},  # below every threshold
        {"file": "cam1/seen.jpg", "detections": [person([0.1, 0.2, 0.3, 0.5], 0.9)]},
        {"file": "cam1/empty.jpg", "detections": []},
        {"file": "cam1/mine.jpg", "detections": []},
        {"file": "cam1/whole.jpg", "detections": []},
    ])
    return images, results


def _region(pixels: np.ndarray, box: list[float]) -> np.ndarray:
    height, width = pixels.shape[:2]
    x, y, w, h = box
    return pixels[int(y * height) + 4:int((y + h) * height) - 4, int(x * width) + 4:int((x + w) * width) - 4]


def test_round_trip_a_missed_person_is_blurred_and_only_that_image_is_redone(
    run_folder: tuple[Path, Path], tmp_path: Path
) -> None:
    images, results = run_folder
    share = tmp_path / "share"
    first = blur_dataset(images, results, share, workers=2)
    assert rows_of(share)["cam1/missed.jpg"]["action"] == "copied"
    assert (share / "cam1/missed.jpg").read_bytes() == (images / "cam1/missed.jpg").read_bytes()
    before = {p.name: (p.stat().st_ino, p.stat().st_ctime_ns) for p in (share / "cam1").iterdir()}

    fix = write_corrections(tmp_path / "corrections.csv", [["cam1/missed.jpg", "box", str(MISSED), "behind the post"]])
    second = blur_dataset(images, results, share, workers=2, corrections=fix)
    # Redone: the corrected image, and the unlisted one (withheld images are always looked at again).
    assert first.processed == 6 and second.processed == 2
    rows = rows_of(share)
    assert rows["cam1/missed.jpg"]["action"] == "blurred"
    assert rows["cam1/missed.jpg"]["correction"] == "box [0.55, 0.15, 0.25, 0.5] (note: behind the post)"
    assert second.corrected == {"box": 1} and "corrected by the reviewer: 1 images" in second.summary()
    state = json.loads((share / ".trapblur" / "run.json").read_text())
    assert state["corrections"]["sha256"] == hashlib.sha256(fix.read_bytes()).hexdigest()
    assert state["images"] == str(images.resolve()) and state["complete"]
    # The missed person's pixels are blurred; outside the padded box the picture is as it was.
    original, output = decode(images / "cam1/missed.jpg"), decode(share / "cam1/missed.jpg")
    assert detail_energy(_region(output, MISSED)) < 0.25 * detail_energy(_region(original, MISSED))
    outside = [0.0, 0.0, 0.45, 1.0]
    assert np.abs(_region(output, outside).astype(int) - _region(original, outside)).mean() < 1.0
    # No other image was touched.
    after = {p.name: (p.stat().st_ino, p.stat().st_ctime_ns) for p in (share / "cam1").iterdir()}
    assert {n for n in after if after[n] != before.get(n)} == {"missed.jpg"}

    # The same corrections again: nothing to redo. A changed file redoes just the images it touches.
    assert blur_dataset(images, results, share, workers=2, corrections=fix).processed == 1
    write_corrections(fix, [["cam1/missed.jpg", "box", str(MISSED), "behind the post"],
                            ["cam1/whole.jpg", "blur-image", "", ""]])
    third = blur_dataset(images, results, share, workers=2, corrections=fix)
    assert third.processed == 2 and rows_of(share)["cam1/whole.jpg"]["correction"] == "blur-image"
    whole_in, whole_out = decode(images / "cam1/whole.jpg"), decode(share / "cam1/whole.jpg")
    assert detail_energy(whole_out) < 0.25 * detail_energy(whole_in)
    # Without the corrections the touched images go back to what the results alone say.
    fourth = blur_dataset(images, results, share, workers=2)
    assert fourth.processed == 3
    assert (share / "cam1/missed.jpg").read_bytes() == (images / "cam1/missed.jpg").read_bytes()
    assert rows_of(share)["cam1/missed.jpg"]["correction"] == ""


def test_withhold_and_bad_rows_keep_images_out_and_the_run_says_why(
    run_folder: tuple[Path, Path], tmp_path: Path
) -> None:
    images, results = run_folder
    share = tmp_path / "share"
    blur_dataset(images, results, share, workers=1)
    assert (share / "cam1/mine.jpg").is_file()
    fix = write_corrections(tmp_path / "fix.csv", [
        ["cam1/mine.jpg", "withhold", "", "my own car"],
        ["cam1/empty.jpg", "box", "[0.2, 0.2, 1.5, 0.1]", ""],  # intent unclear: withheld
        ["cam1/nope.jpg", "box", "[0.1, 0.1, 0.1, 0.1]", ""],  # no such image: reported
        ["cam1/unlisted.jpg", "blur-image", "", ""],  # corrections never release a withheld image
        ["cam1/seen.jpg", "accept", "", ""],
    ])
    report = blur_dataset(images, results, share, workers=1, corrections=fix)
    rows = rows_of(share)
    assert rows["cam1/mine.jpg"]["action"] == "withheld"
    assert rows["cam1/mine.jpg"]["reason"] == "withheld by the reviewer (fix.csv row 2: my own car)"
    assert not (share / "cam1/mine.jpg").exists()
    assert rows["cam1/empty.jpg"]["action"] == "withheld" and "row 3" in rows["cam1/empty.jpg"]["reason"]
    assert "out of range" in rows["cam1/empty.jpg"]["reason"] and not (share / "cam1/empty.jpg").exists()
    assert rows["cam1/unlisted.jpg"]["action"] == "withheld" and rows["cam1/unlisted.jpg"]["correction"] == "blur-image"
    assert rows["cam1/seen.jpg"]["action"] == "blurred" and rows["cam1/seen.jpg"]["correction"] == "accept"
    assert not report.ok
    assert any("row 4 ('cam1/nope.jpg'): no such image" in line for line in report.correction_problems)
    assert "corrections rows not applied" in report.summary()


def test_cli_blur_takes_corrections_and_exit_status_reports_unapplied_rows(
    run_folder: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, results = run_folder
    share = tmp_path / "share"
    fix = write_corrections(tmp_path / "fix.csv", [["cam1/missed.jpg", "box", str(MISSED), ""]])
    argv = ["blur", str(images), "--results", str(results), "--out", str(share), "--copy-unlisted", "-q"]
    assert main([*argv, "--corrections", str(fix)]) == 0
    assert rows_of(share)["cam1/missed.jpg"]["action"] == "blurred"
    assert "corrected by the reviewer: 1 images (1 box" in capsys.readouterr().out
    write_corrections(fix, [["cam1/typo.jpg", "withhold", "", ""]])
    assert main([*argv, "--corrections", str(fix)]) == 1
    assert "row 2 ('cam1/typo.jpg'): no such image" in capsys.readouterr().out
    assert main([*argv, "--corrections", str(tmp_path / "absent.csv")]) == 2
    assert "absent.csv: corrections file not found" in capsys.readouterr().err


def test_with_copy_unlisted_the_reviewers_boxes_are_an_unlisted_images_only_detections(
    run_folder: tuple[Path, Path], tmp_path: Path
) -> None:
    images, results = run_folder
    share = tmp_path / "share"
    fix = write_corrections(tmp_path / "fix.csv", [["cam1/unlisted.jpg", "box", str(MISSED), ""]])
    blur_dataset(images, results, share, workers=1, copy_unlisted=True, corrections=fix)
    assert rows_of(share)["cam1/unlisted.jpg"]["action"] == "blurred"
    original, output = decode(images / "cam1/unlisted.jpg"), decode(share / "cam1/unlisted.jpg")
    assert detail_energy(_region(output, MISSED)) < 0.25 * detail_energy(_region(original, MISSED))
