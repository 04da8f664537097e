"""Reuse decisions by content, not modification times: an image replaced with its old mtime (cp -p, rsync -a)
is redone on resume, and an image whose bytes differ from what its detections were made for is withheld."""

from __future__ import annotations

import csv
import json
import hashlib
import os
import shutil
import struct
from pathlib import Path

import numpy as np

from trapblur import blur_dataset
from trapblur.content import CONTENT_KEY, hash_file
from trapblur.pipeline import REPORT_NAME, STATE_FOLDER

from conftest import decode, detail_energy, make_camera_jpeg, person, write_md

BOX = [0.1, 0.2, 0.3, 0.5]  # x 64-256, y 96-336 on 640x480


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows(output: Path) -> dict[str, dict[str, str]]:
    with (output / REPORT_NAME).open(newline="") as stream:
        return {row["input"]: row for row in csv.DictReader(stream)}


def same_size_other_picture(original: bytes, seed: int) -> bytes:
    """Another photograph padded (with a JPEG comment) to exactly the original's size."""
    for quality in (85, 80, 75, 70, 60):
        other = make_camera_jpeg(640, 480, seed=seed, quality=quality)
        padding = len(original) - len(other) - 4
        if padding >= 0:
            comment = b"\xff\xfe" + struct.pack(">H", padding + 2) + b"\x00" * padding
            replacement = other[:2] + comment + other[2:]
            assert len(replacement) == len(original) and replacement != original
            return replacement
    raise AssertionError("could not make a smaller picture")


def replace_keeping_times(path: Path, data: bytes) -> None:
    """What ``cp -p`` / ``rsync -a`` do: new bytes, the old modification (and access) time."""
    before = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def folder(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "cameras"
    images.mkdir()
    (images / "person.jpg").write_bytes(make_camera_jpeg(640, 480, seed=1))
    (images / "empty.jpg").write_bytes(make_camera_jpeg(640, 480, seed=2))
    (images / "other.jpg").write_bytes(make_camera_jpeg(640, 480, seed=3))
    results = write_md(tmp_path / "md.json", [
        {"file": "person.jpg", "detections": [person(BOX, 0.9)]},
        {"file": "empty.jpg", "detections": []},
        {"file": "other.jpg", "detections": []},
    ])
    return images, results


def test_report_records_the_content_each_output_was_made_from(tmp_path: Path) -> None:
    images, results = folder(tmp_path)
    (images / "unlisted.jpg").write_bytes(make_camera_jpeg(64, 48))
    output = tmp_path / "share"
    blur_dataset(images, results, output)
    report = rows(output)
    for name in ("person.jpg", "empty.jpg", "other.jpg"):
        assert report[name]["input_sha256"] == sha256(images / name)
        assert len(report[name]["entry_sha256"]) == 64
    assert report["person.jpg"]["entry_sha256"] != report["empty.jpg"]["entry_sha256"]
    assert report["empty.jpg"]["entry_sha256"] == report["other.jpg"]["entry_sha256"]  # same entry content
    assert report["unlisted.jpg"]["action"] == "withheld" and report["unlisted.jpg"]["input_sha256"] == ""
    # A copy is the input byte for byte, so its output hashes to the recorded input hash too.
    assert sha256(output / "empty.jpg") == report["empty.jpg"]["input_sha256"]


def test_an_image_replaced_with_the_same_size_and_mtime_is_redone_on_resume(tmp_path: Path) -> None:
    images, results = folder(tmp_path)
    output = tmp_path / "share"
    blur_dataset(images, results, output, workers=1)
    old_blurred = (output / "person.jpg").read_bytes()

    new_person = same_size_other_picture((images / "person.jpg").read_bytes(), seed=11)
    new_empty = same_size_other_picture((images / "empty.jpg").read_bytes(), seed=12)
    replace_keeping_times(images / "person.jpg", new_person)
    replace_keeping_times(images / "empty.jpg", new_empty)

    again = blur_dataset(images, results, output, workers=1)
    assert again.processed == 2  # the two replaced images; other.jpg is unchanged and skipped
    report = rows(output)
    assert report["empty.jpg"]["input_sha256"] == sha256(images / "empty.jpg")
    assert (output / "empty.jpg").read_bytes() == new_empty  # the new picture, not the stale copy
    assert report["person.jpg"]["input_sha256"] == sha256(images / "person.jpg")
    blurred = decode(output / "person.jpg")
    assert (output / "person.jpg").read_bytes() != old_blurred
    # Outside the box the output is the new picture; inside it is blurred.
    fresh = decode(new_person)
    outside = (slice(0, 480), slice(320, 640))
    assert np.abs(blurred[outside].astype(int) - fresh[outside].astype(int)).mean() < 2
    assert detail_energy(blurred[96:336, 64:256]) < 0.3 * detail_energy(fresh[96:336, 64:256])


def test_changed_results_redo_only_the_images_whose_entry_changed(tmp_path: Path) -> None:
    images, results = folder(tmp_path)
    output = tmp_path / "share"
    blur_dataset(images, results, output)
    corrected = write_md(tmp_path / "corrected.json", [
        {"file": "person.jpg", "detections": [person(BOX, 0.9)]},
        {"file": "empty.jpg", "detections": [person([0.5, 0.1, 0.3, 0.6], 0.8)]},  # a person was missed
        {"file": "other.jpg", "detections": []},
    ])
    report = blur_dataset(images, corrected, output)
    assert report.processed == 1
    assert rows(output)["empty.jpg"]["action"] == "blurred"
    assert (output / "empty.jpg").read_bytes() != (images / "empty.jpg").read_bytes()


def test_an_image_changed_since_detection_is_withheld_not_blurred_with_old_boxes(tmp_path: Path) -> None:
    images, results = folder(tmp_path)
    document = json.loads(results.read_text())
    # What trapblur's detector records: the SHA-256 of the bytes each entry was made from.
    document["info"][CONTENT_KEY] = {name: hash_file(images / name) for name in ("person.jpg", "empty.jpg", "other.jpg")}
    results.write_text(json.dumps(document))
    output = tmp_path / "share"
    assert blur_dataset(images, results, output).ok

    shutil.copy2(images / "other.jpg", tmp_path / "keep.jpg")
    replace_keeping_times(images / "empty.jpg", same_size_other_picture((images / "empty.jpg").read_bytes(), 21))
    replace_keeping_times(images / "person.jpg", same_size_other_picture((images / "person.jpg").read_bytes(), 22))
    report = blur_dataset(images, results, output)
    table = rows(output)
    for name in ("empty.jpg", "person.jpg"):
        assert table[name]["action"] == "withheld"
        assert "differ from the image the detections were made for" in table[name]["reason"]
        assert table[name]["input_sha256"] == sha256(images / name)
        assert not (output / name).exists()  # the earlier output (of the old picture) is removed too
    assert table["other.jpg"]["action"] == "copied" and report.counts["withheld"] == 2
    # The output's own results file does not carry the input hashes (they describe the inputs, not it).
    assert CONTENT_KEY not in json.loads((output / "trapblur_results.json").read_text())["info"]


def test_a_deleted_output_or_journal_row_without_hashes_is_redone(tmp_path: Path) -> None:
    images, results = folder(tmp_path)
    output = tmp_path / "share"
    blur_dataset(images, results, output)
    (output / "other.jpg").unlink()
    # A report from an older trapblur has no hash columns: nothing in it can be trusted to be unchanged.
    lines = (output / REPORT_NAME).read_text().splitlines()
    header = lines[0].split(",")
    keep = [i for i, c in enumerate(header) if c not in ("input_sha256", "entry_sha256")]
    (output / REPORT_NAME).write_text("\n".join(",".join(line.split(",")[i] for i in keep) for line in lines) + "\n")
    assert blur_dataset(images, results, output).processed == 3
    assert (output / "other.jpg").read_bytes() == (images / "other.jpg").read_bytes()


def test_outputs_of_images_no_longer_in_the_folder_are_removed(tmp_path: Path) -> None:
    images, results = folder(tmp_path)
    output = tmp_path / "share"
    blur_dataset(images, results, output)
    (images / "other.jpg").unlink()
    report = blur_dataset(images, results, output)
    assert not (output / "other.jpg").exists()
    assert rows(output)["other.jpg"]["action"] == "missing" and report.counts["missing"] == 1
    assert (output / STATE_FOLDER / "run.json").is_file()

