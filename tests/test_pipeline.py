"""The batch, end to end on real files: what is written, what is withheld, and that the input is untouched."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from trapblur import OutputFolderError, ResultsFormatError, blur_dataset, read_results
from trapblur.pipeline import REPORT_NAME, RESULTS_NAME
from trapblur.report import read_report

from conftest import as_made_by, decode, detail_energy, make_camera_jpeg, person, segments_of, tree_digest, write_md

BOX = [0.1, 0.2, 0.3, 0.5]  # x 64-256, y 96-336 on 640x480


@pytest.fixture
def camera_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A small camera-trap folder with every kind of case, and its MegaDetector results."""
    images = tmp_path / "cameras"
    cam = images / "site A" / "cam1"
    cam.mkdir(parents=True)
    for index, name in enumerate(["person.jpg", "empty.jpg", "animal.jpg", "low.jpg", "failed.jpg", "unlisted.jpg",
                                  "backslash.jpg", "elsewhere.JPG"]):
        (cam / name).write_bytes(make_camera_jpeg(640, 480, seed=index))
    (cam / "broken.jpg").write_bytes(make_camera_jpeg(640, 480, seed=9)[:5000])
    (cam / "notes.txt").write_text("ranger rota")
    (cam / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    results = write_md(tmp_path / "md.json", [
        {"file": "site A/cam1/person.jpg", "detections": [person(BOX, 0.92), {"category": "1", "conf": 0.8, "bbox": [0.6, 0.6, 0.2, 0.2]}]},
        {"file": "site A/cam1/empty.jpg", "detections": []},
        {"file": "site A/cam1/animal.jpg", "detections": [{"category": "1", "conf": 0.95, "bbox": [0.5, 0.5, 0.3, 0.3]}]},
        {"file": "site A/cam1/low.jpg", "detections": [person(BOX, 0.05)]},
        {"file": "site A/cam1/failed.jpg", "failure": "inference failure", "detections": None},
        {"file": "site A\\cam1\\backslash.jpg", "detections": [person(BOX, 0.5)]},
        {"file": "D:\\other machine\\cameras\\site A\\cam1\\elsewhere.jpg", "detections": [person(BOX, 0.4)]},
        {"file": "site A/cam1/broken.jpg", "detections": [person(BOX, 0.9)]},
        {"file": "site A/cam1/gone.jpg", "detections": []},
        {"file": "../secrets/outside.jpg", "detections": []},
    ])
    return images, results


def read_rows(output: Path) -> dict[str, dict[str, str]]:
    with (output / REPORT_NAME).open(newline="") as stream:
        return {row["input"]: row for row in csv.DictReader(stream)}


def test_every_image_gets_the_right_outcome(camera_folder: tuple[Path, Path], tmp_path: Path) -> None:
    images, results = camera_folder
    before = tree_digest(images)
    output = tmp_path / "share"
    report = blur_dataset(images, results, output, workers=2)

    rows = read_rows(output)
    action = {name.split("/")[-1]: row["action"] for name, row in rows.items()}
    assert action == {
        "person.jpg": "blurred", "backslash.jpg": "blurred", "elsewhere.JPG": "blurred",
        "empty.jpg": "copied", "animal.jpg": "copied", "low.jpg": "copied",
        "failed.jpg": "withheld", "unlisted.jpg": "withheld", "clip.mp4": "withheld",
        "broken.jpg": "failed", "notes.txt": "ignored",
        "gone.jpg": "missing", "outside.jpg": "refused",
    }
    assert report.counts["blurred"] == 3 and report.counts["withheld"] == 3 and report.counts["failed"] == 1
    assert not report.ok
    assert "truncated" in rows["site A/cam1/broken.jpg"]["reason"]
    assert rows["site A/cam1/low.jpg"]["max_person_conf"] == "0.050"

    # Only blurred and copied images exist in the output, under the same tree.
    written = sorted(p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file()
                     and not p.name.startswith("trapblur_") and ".trapblur" not in p.parts)
    assert written == sorted(f"site A/cam1/{n}" for n in ["person.jpg", "backslash.jpg", "elsewhere.JPG",
                                                         "empty.jpg", "animal.jpg", "low.jpg"])
    # Copies are byte for byte; blurred images changed inside the box only, metadata kept.
    cam_in, cam_out = images / "site A" / "cam1", output / "site A" / "cam1"
    for name in ("empty.jpg", "animal.jpg", "low.jpg"):
        assert (cam_out / name).read_bytes() == (cam_in / name).read_bytes()
        assert (cam_out / name).stat().st_mtime_ns == (cam_in / name).stat().st_mtime_ns
    original, blurred = decode(cam_in / "person.jpg"), decode(cam_out / "person.jpg")
    inside = (slice(110, 320), slice(70, 250))
    assert detail_energy(blurred[inside]) < 0.05 * detail_energy(original[inside])
    outside = (slice(0, 480), slice(300, 640))
    assert np.abs(original[outside].astype(int) - blurred[outside].astype(int)).mean() < 1.5
    kept = [s for s in segments_of((cam_in / "person.jpg").read_bytes()) if s[4:10] != b"Exif\x00\x00"]
    assert kept == [s for s in segments_of((cam_out / "person.jpg").read_bytes()) if s[4:10] != b"Exif\x00\x00"]

    # The input tree is untouched, bytes and times.
    assert tree_digest(images) == before
    # The output's MegaDetector file describes exactly the written images, with their detections.
    described = read_results(output / RESULTS_NAME)
    assert sorted(e.file for e in described.images) == written
    assert {e.file: len(e.detections) for e in described.images}["site A/cam1/person.jpg"] == 2


def test_copy_unlisted_and_hard_links(camera_folder: tuple[Path, Path], tmp_path: Path) -> None:
    images, results = camera_folder
    output = tmp_path / "share"
    blur_dataset(images, results, output, copy_unlisted=True, link_unchanged=True)
    rows = read_rows(output)
    assert rows["site A/cam1/unlisted.jpg"]["action"] == "copied"
    assert rows["site A/cam1/empty.jpg"]["encoding"] == "link"
    assert os.path.samefile(output / "site A/cam1/empty.jpg", images / "site A/cam1/empty.jpg")
    assert rows["site A/cam1/failed.jpg"]["action"] == "withheld"  # a detector failure is never copied


def test_output_folder_overlapping_the_input_is_refused(camera_folder: tuple[Path, Path]) -> None:
    images, results = camera_folder
    before = tree_digest(images)
    for output in (images, images / "site A" / "share", images.parent):
        with pytest.raises(OutputFolderError, match="must not"):
            blur_dataset(images, results, output)
    assert tree_digest(images) == before


def test_missing_image_folder_and_bad_results_are_clear_errors(camera_folder: tuple[Path, Path], tmp_path: Path) -> None:
    images, results = camera_folder
    with pytest.raises(OutputFolderError, match="image folder not found"):
        blur_dataset(tmp_path / "nowhere", results, tmp_path / "out")
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [}')
    with pytest.raises(ResultsFormatError, match="bad.json: not valid JSON"):
        blur_dataset(images, bad, tmp_path / "out")


def test_interrupted_run_resumes_and_finishes(camera_folder: tuple[Path, Path], tmp_path: Path) -> None:
    images, results = camera_folder
    output = tmp_path / "share"

    def interrupt_after_three(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        blur_dataset(images, results, output, workers=1, progress=interrupt_after_three)
    assert not (output / REPORT_NAME).exists()  # nothing looks finished
    assert not (output / RESULTS_NAME).exists()
    assert not list(output.rglob("*.partial"))

    report = blur_dataset(images, results, output, workers=1)
    assert report.processed < report.total  # the first images were not redone
    rows = read_rows(output)
    assert len(rows) == 13
    assert rows["site A/cam1/person.jpg"]["action"] == "blurred"

    again = blur_dataset(images, results, output)
    assert again.counts == report.counts
    assert again.processed == again.counts["withheld"] + again.counts["failed"] + again.counts["ignored"]


def test_changed_settings_are_refused_then_overwrite_redoes(camera_folder: tuple[Path, Path], tmp_path: Path) -> None:
    images, results = camera_folder
    output = tmp_path / "share"
    blur_dataset(images, results, output, copy_unlisted=True)
    assert (output / "site A/cam1/unlisted.jpg").exists()
    with pytest.raises(OutputFolderError, match="threshold"):
        blur_dataset(images, results, output, threshold=0.01, copy_unlisted=True)
    report = blur_dataset(images, results, output, threshold=0.01, overwrite=True)
    assert report.processed == report.total
    # low.jpg now has a person above the threshold; unlisted.jpg is now withheld and its old copy removed.
    rows = read_rows(output)
    assert rows["site A/cam1/low.jpg"]["action"] == "blurred"
    assert not (output / "site A/cam1/unlisted.jpg").exists()


def test_non_empty_foreign_output_folder_is_refused(camera_folder: tuple[Path, Path], tmp_path: Path) -> None:
    images, results = camera_folder
    output = tmp_path / "holiday photos"
    output.mkdir()
    (output / "keep.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match="not made by trapblur"):
        blur_dataset(images, results, output)


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges on Windows")
def test_symlink_out_of_the_folder_is_withheld(camera_folder: tuple[Path, Path], tmp_path: Path) -> None:
    images, results = camera_folder
    secret = tmp_path / "private.jpg"
    secret.write_bytes(make_camera_jpeg(64, 48))
    (images / "link.jpg").symlink_to(secret)
    write_md(results, [{"file": "link.jpg", "detections": []}])
    output = tmp_path / "share"
    blur_dataset(images, results, output)
    row = read_rows(output)["link.jpg"]
    assert row["action"] == "withheld" and "outside the image folder" in row["reason"]
    assert not (output / "link.jpg").exists()


def test_shared_camera_trap_images(shared_images: Path, shared_md: Path, tmp_path: Path) -> None:
    before = tree_digest(shared_images)
    output = tmp_path / "share"
    blur_dataset(shared_images, shared_md / "shared_images.md.json", output, categories=["person", "vehicle"])
    rows = read_rows(output)
    actions = {name: row["action"] for name, row in rows.items()}
    assert actions["person_animlpy_B012_2021-05-27_human.jpg"] == "blurred"
    assert actions["person_animlr_Peru_S90_SDZG2_EK000008.JPG"] == "blurred"
    assert actions["hard_animlr_Peru_S90_SDZG1_EK000002.JPG"] == "blurred"  # conf 0.22
    assert actions["vehicle_stn_vehicle.jpg"] == "blurred"
    assert actions["animal_stn_african_elephants.jpg"] == "copied"  # its "person" is at conf 0.03
    assert actions["broken_animlpy_error_img_0bytes.JPG"] == "withheld"
    assert actions["broken_stn_african_elephants_truncated_file.jpg"] == "withheld"
    # B012: the box stops 2% short of the left edge, the person does not: blurred to the edge.
    original = decode(shared_images / "person_animlpy_B012_2021-05-27_human.jpg")
    blurred = decode(output / "person_animlpy_B012_2021-05-27_human.jpg")
    edge = (slice(2100, 3000), slice(0, 60))
    assert detail_energy(blurred[edge]) < 0.1 * detail_energy(original[edge])
    assert tree_digest(shared_images) == before


def _changed_box_upright(before_path: Path, after_path: Path) -> tuple[float, float, float, float]:
    """Where the output differs from the input, as fractions of the *displayed* (EXIF-turned) picture."""
    before = np.asarray(ImageOps.exif_transpose(Image.open(before_path)).convert("L")).astype(int)
    after = np.asarray(ImageOps.exif_transpose(Image.open(after_path)).convert("L")).astype(int)
    assert before.shape == after.shape  # the output displays with the same orientation
    difference = cv2.blur(np.abs(before - after).astype(np.float32), (25, 25))
    ys, xs = np.nonzero(difference > 6)  # re-encoding noise is scattered; the blur is a solid patch
    h, w = before.shape
    return xs.min() / w, ys.min() / h, xs.max() / w, ys.max() / h


ELEPHANT = (0.56 - 0.009, 0.42 - 0.016, 0.65 + 0.009, 0.58 + 0.016)  # the padded 'person' box, upright


def test_exif_rotated_copy_blurs_the_same_elephant(shared_images: Path, shared_md: Path, tmp_path: Path) -> None:
    """Boxes from MegaDetector v5 (which applies EXIF 6): exactly the same elephant in both copies."""
    output = tmp_path / "share"
    blur_dataset(shared_images, as_made_by(shared_md / "orientation_check.md.json", tmp_path / "md.json"), output)
    rotated_name = "animal_stn_african_elephants_with_exif_orientation.jpg"
    upright = _changed_box_upright(shared_images / "animal_stn_african_elephants.jpg",
                                   output / "animal_stn_african_elephants.jpg")
    rotated = _changed_box_upright(shared_images / rotated_name, output / rotated_name)
    assert upright == pytest.approx(rotated, abs=0.02)
    assert upright == pytest.approx(ELEPHANT, abs=0.02)
    assert Image.open(output / rotated_name).getexif()[0x0112] == 6
    row = {r.input: r for r in read_report(output / REPORT_NAME)}[rotated_name]
    assert row.regions == 1 and "ambiguous" not in row.reason


def test_exif_rotated_copy_from_an_unknown_tool_blurs_both_candidate_places(
    shared_images: Path, shared_md: Path, tmp_path: Path
) -> None:
    """The shared file names no known detector: for the rotated copy nobody knows whether its box was
    measured upright or as stored, so the elephant *and* the stored-frame place are blurred, and the
    report says so. The upright copy (orientation 1) is exact."""
    output = tmp_path / "share"
    report = blur_dataset(shared_images, shared_md / "orientation_check.md.json", output)
    rotated_name = "animal_stn_african_elephants_with_exif_orientation.jpg"
    rows = {r.input: r for r in read_report(output / REPORT_NAME)}
    assert rows[rotated_name].action == "blurred" and rows[rotated_name].regions == 2
    assert "orientation ambiguous" in rows[rotated_name].reason and "as stored" in rows[rotated_name].reason
    assert rows["animal_stn_african_elephants.jpg"].regions == 1
    assert report.ambiguous_orientation == 1 and "1 blurred at more than one place" in report.summary()
    before = np.asarray(ImageOps.exif_transpose(Image.open(shared_images / rotated_name)).convert("L")).astype(int)
    after = np.asarray(ImageOps.exif_transpose(Image.open(output / rotated_name)).convert("L")).astype(int)
    assert before.shape == after.shape
    h, w = before.shape
    # The box as if measured on the stored picture, seen upright: stored (x, y) -> upright (1 - y, x).
    x0, y0, x1, y1 = 0.56, 0.42, 0.65, 0.58
    for name, (a, b, c, d) in {"upright": (x0, y0, x1, y1), "stored": (1 - y1, x0, 1 - y0, x1)}.items():
        inside = (slice(int((b + 0.02) * h), int((d - 0.02) * h)), slice(int((a + 0.02) * w), int((c - 0.02) * w)))
        assert detail_energy(after[inside].astype(np.uint8)) < 0.3 * detail_energy(before[inside].astype(np.uint8)), name
    far = (slice(0, int(0.2 * h)), slice(0, int(0.2 * w)))  # a corner neither place touches
    assert np.abs(after[far] - before[far]).mean() < 1.5


def test_png_images_in_a_dataset(tmp_path: Path) -> None:
    images = tmp_path / "cams"
    images.mkdir()
    from conftest import textured_pixels
    Image.fromarray(textured_pixels(320, 240)).save(images / "a.png")
    results = write_md(tmp_path / "md.json", [{"file": "a.png", "detections": [person(BOX)]}])
    blur_dataset(images, results, tmp_path / "out")
    a, b = decode(images / "a.png"), decode(tmp_path / "out" / "a.png")
    assert np.array_equal(a[:, 200:], b[:, 200:])
    assert detail_energy(b[60:160, 40:120]) < 0.05 * detail_energy(a[60:160, 40:120])



def test_a_selected_detection_with_an_empty_box_withholds_the_image(tmp_path: Path) -> None:
    images = tmp_path / "cams"
    images.mkdir()
    (images / "a.jpg").write_bytes(make_camera_jpeg(320, 240))
    (images / "b.jpg").write_bytes(make_camera_jpeg(320, 240, seed=3))
    results = write_md(tmp_path / "md.json", [
        {"file": "a.jpg", "detections": [person([0.2, 0.2, 0.0, 0.5], 0.9)]},  # zero width
        {"file": "b.jpg", "detections": [person([1.2, 0.2, 0.1, 0.5], 0.9)]},  # outside the frame
    ])
    blur_dataset(images, results, tmp_path / "out")
    rows = read_rows(tmp_path / "out")
    for name in ("a.jpg", "b.jpg"):
        assert rows[name]["action"] == "failed" and "empty box" in rows[name]["reason"], rows[name]
        assert not (tmp_path / "out" / name).exists()
