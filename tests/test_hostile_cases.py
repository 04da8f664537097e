"""New cases of the classes issue 8 names, tried after it landed (a hostile tester's list).

Each test is one invented case that wrote a person unblurred, or reported "copied"/"blurred" for an image
that still showed one, before the fix it comes with: category lists typed as one name, file names that
differ only in Unicode normalisation or in ways that make a results entry ambiguous (with
``copy_unlisted``), EXIF blocks under the other headers exiftool reads or split over several segments.
"""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from trapblur import BlurOptions, OptionsError, blur_dataset
from trapblur.cli import main
from trapblur.pipeline import REPORT_NAME

from conftest import decode, detail_energy, jpeg_bytes, make_camera_jpeg, person, write_md

BOX = [0.2, 0.25, 0.3, 0.5]
INSIDE = (slice(70, 170), slice(75, 150))  # inside BOX on 320x240


def _rows(output: Path) -> dict[str, dict[str, str]]:
    """The report's rows for images (not those for results entries without an image), by input."""
    with (output / REPORT_NAME).open(newline="") as stream:
        return {row["input"]: row for row in csv.DictReader(stream)
                if row["action"] not in ("missing", "refused", "malformed")}


def _write(root: Path, relative: str, seed: int) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make_camera_jpeg(320, 240, seed=seed))
    return path


# ----------------------------------------------------------------------------------------------------------
# (1) Category names typed by the user


@pytest.mark.parametrize("typed", ["person;vehicle", "humans; cars", "Person ; Vehicle"])
def test_a_list_typed_as_one_name_is_refused_not_read_as_its_last_part(typed: str) -> None:
    """``person;vehicle`` (a semicolon list, as European spreadsheets write them) was read as a taxonomy
    string, whose last part wins: only vehicles were blurred, and people were copied unblurred."""
    with pytest.raises(OptionsError, match="one category per name") as error:
        BlurOptions(categories=[typed])
    assert error.value.argument == "categories"
    with pytest.raises(OptionsError, match="one category per name") as error:
        BlurOptions(categories=["person", "vehicle"], threshold={typed: 0.2})
    assert error.value.argument == "threshold"


def test_cli_semicolon_list_refuses_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "cams"
    _write(images, "a.jpg", 1)
    results = write_md(tmp_path / "md.json", [{"file": "a.jpg", "detections": [person(BOX)]}])
    output = tmp_path / "out"
    code = main(["blur", str(images), "--results", str(results), "--out", str(output), "-q",
                 "--categories", "person;vehicle"])
    assert code == 2
    assert "one category per name" in capsys.readouterr().err
    assert not (output / "a.jpg").exists()


# ----------------------------------------------------------------------------------------------------------
# (6) Names that differ only in Unicode normalisation, and entries that could name more than one image


def test_a_name_stored_decomposed_matches_its_composed_results_entry(tmp_path: Path) -> None:
    """macOS (and files copied from it) store names decomposed (NFD: ``e`` + combining accent); results
    files are written composed (NFC). The entry used to find no image: "missing", and with copy_unlisted
    the picture it describes, person included, was copied unchanged."""
    images = tmp_path / "cams"
    on_disk = unicodedata.normalize("NFD", "Zoë/café_0001.jpg")
    in_results = unicodedata.normalize("NFC", "Zoë/café_0001.jpg")
    assert on_disk != in_results
    _write(images, on_disk, 1)
    _write(images, "empty.jpg", 2)
    results = write_md(tmp_path / "md.json", [{"file": in_results, "detections": [person(BOX)]},
                                              {"file": "empty.jpg", "detections": []}])
    for copy_unlisted in (False, True):
        output = tmp_path / f"out{copy_unlisted}"
        report = blur_dataset(images, results, output, copy_unlisted=copy_unlisted)
        rows = _rows(output)
        assert rows[on_disk]["action"] == "blurred", rows
        assert in_results not in rows  # not also listed as "missing"
        assert report.counts.get("missing", 0) == 0
        before, after = decode(images / on_disk), decode(output / on_disk)
        assert detail_energy(after[INSIDE]) < 0.3 * detail_energy(before[INSIDE])


def test_images_an_ambiguous_entry_could_name_are_withheld_even_with_copy_unlisted(tmp_path: Path) -> None:
    """An entry that matches no image for sure (case-only twins, a backslash that may be a separator, a
    path from another machine under another folder than the others) says someone saw a person in one of
    the pictures it could name. Those pictures used to count as "not in the results" and copy_unlisted
    copied them unblurred."""
    images = tmp_path / "cams"
    for relative, seed in (("img.jpg", 1), ("Img.jpg", 2), ("a/b.jpg", 3), ("a\\b.jpg", 4),
                           ("IMG_1.JPG", 5), ("IMG_2.JPG", 6), ("free.jpg", 7)):
        _write(images, relative, seed)
    results = write_md(tmp_path / "md.json", [
        {"file": "IMG.JPG", "detections": [person(BOX)]},  # img.jpg or Img.jpg?
        {"file": "a\\b.jpg", "detections": [person(BOX)]},  # a/b.jpg or the file named a\b.jpg?
        {"file": "D:\\cams\\A\\IMG_1.JPG", "detections": []},
        {"file": "D:\\cams\\A\\free.jpg", "detections": []},
        {"file": "E:\\other\\B\\IMG_2.JPG", "detections": [person(BOX)]},  # not under D:\cams\A
    ])
    output = tmp_path / "out"
    blur_dataset(images, results, output, copy_unlisted=True)
    rows = _rows(output)
    for relative in ("img.jpg", "Img.jpg", "a/b.jpg", "a\\b.jpg", "IMG_2.JPG"):
        assert rows[relative]["action"] == "withheld", (relative, rows[relative])
        assert "could name" in rows[relative]["reason"], rows[relative]
        assert not (output / relative).exists()
    assert rows["IMG_1.JPG"]["action"] == "copied" and rows["free.jpg"]["action"] == "copied"


def test_two_entries_saying_the_same_about_one_image_do_not_withhold_it(tmp_path: Path) -> None:
    """An image listed twice (a relative and an absolute path from another machine) with the same
    detections is not ambiguous: it was withheld because the entries' paths differ."""
    images = tmp_path / "cams"
    _write(images, "x.jpg", 1)
    _write(images, "y.jpg", 2)
    results = write_md(tmp_path / "md.json", [
        {"file": "x.jpg", "detections": [person(BOX)]},
        {"file": "D:\\cams\\A\\x.jpg", "detections": [person(BOX)]},
        {"file": "D:\\cams\\A\\y.jpg", "detections": []},
    ])
    output = tmp_path / "out"
    blur_dataset(images, results, output)
    assert _rows(output)["x.jpg"]["action"] == "blurred"


# ----------------------------------------------------------------------------------------------------------
# (4) EXIF thumbnails under the other headers exiftool reads, and EXIF split over several APP1 segments


def _thumbnail_cases() -> dict[str, tuple[bytes, str]]:
    """name -> (a JPEG with a person everywhere and an EXIF thumbnail, the exiftool tag that extracts it)."""
    from _metadata_support import exif_with_jpeg_thumbnail, exif_with_strip_thumbnail, photo, preview_jpeg, segment, with_segments

    picture = photo()
    tiffs = {"strip": (exif_with_strip_thumbnail(np.asarray(picture.resize((80, 60))))[6:], "ThumbnailTIFF"),
             "jpeg": (exif_with_jpeg_thumbnail(preview_jpeg(picture))[6:], "ThumbnailImage")}
    main_image = jpeg_bytes(picture, quality=90)
    cases = {}
    for kind, (tiff, tag) in tiffs.items():
        # exiftool: /^(.{0,4})Exif\0/is, the TIFF structure 6 bytes after "Exif" starts
        for name, header in (("upper", b"EXIF\x00\x00"), ("lower", b"exif\x00\x00"), ("any-6th-byte", b"Exif\x00X"),
                             ("garbage-before", b"ab" + b"Exif\x00\x00")):
            cases[f"{name}-{kind}"] = (with_segments(main_image, segment(0xE1, header + tiff)), tag)
        # multi-segment EXIF: the next APP1 starts "Exif\0\0" without a TIFF header and continues the data
        cut = len(tiff) - len(tiff) // 3
        cases[f"split-{kind}"] = (with_segments(main_image, segment(0xE1, b"Exif\x00\x00" + tiff[:cut]),
                                                segment(0xE1, b"Exif\x00\x00" + tiff[cut:])), tag)
    return cases


THUMBNAIL_CASES = _thumbnail_cases()


@pytest.mark.parametrize("jpeg_mode", ["lossless", "reencode"])
@pytest.mark.parametrize("case", sorted(THUMBNAIL_CASES))
def test_exif_thumbnails_exiftool_reads_are_blurred_or_gone(tmp_path: Path, case: str, jpeg_mode: str) -> None:
    """exiftool reads EXIF under "EXIF\\0\\0", "exif\\0\\0", "Exif\\0" + any byte and with up to 4 bytes
    before "Exif", and joins EXIF split over consecutive APP1 segments. Uncompressed (strip) thumbnails
    there, and the part of a split thumbnail in the second segment, were written byte for byte."""
    from _metadata_support import PERSON_BOX, assert_blurred_or_gone, exiftool_binary

    data, tag = THUMBNAIL_CASES[case]
    images = tmp_path / "cams"
    images.mkdir()
    (images / "p.jpg").write_bytes(data)
    before = exiftool_binary(images / "p.jpg", tag)
    assert before, "the case must hold a thumbnail exiftool extracts"
    results = write_md(tmp_path / "md.json", [{"file": "p.jpg", "detections": [person(list(PERSON_BOX))]}])
    output = tmp_path / "out"
    blur_dataset(images, results, output, jpeg_mode=jpeg_mode)
    row = _rows(output)["p.jpg"]
    if row["action"] == "withheld":  # refused by the audit: nothing written, nothing leaks
        assert not (output / "p.jpg").exists()
        return
    assert row["action"] == "blurred", row
    assert_blurred_or_gone(before, exiftool_binary(output / "p.jpg", tag))


# ----------------------------------------------------------------------------------------------------------
# (5) Resuming with changed results: the same boxes, from another tool (so in another frame)


def test_resume_redoes_an_image_whose_boxes_are_now_from_another_tool(tmp_path: Path) -> None:
    """Which frame a box is in depends on the tool that made it (``info``), not only on the entry. A re-run
    whose results say the same boxes came from another tool kept the output blurred in the first tool's
    frame alone, where a fresh run blurs every candidate place."""
    import json

    images = tmp_path / "cams"
    images.mkdir()
    (images / "r.jpg").write_bytes(make_camera_jpeg(640, 480, orientation=6, seed=1))
    document = {"info": {"format_version": "1.4", "detector": "md_v5a.0.0.pt"},
                "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
                "images": [{"file": "r.jpg", "detections": [person([0.1, 0.1, 0.2, 0.3])]}]}
    results = tmp_path / "md.json"
    results.write_text(json.dumps(document))
    output = tmp_path / "out"
    blur_dataset(images, results, output)
    assert _rows(output)["r.jpg"]["regions"] == "1"  # MegaDetector v5 turns colour JPEGs by EXIF 6
    document["info"] = {"format_version": "1.4", "detector": "another_tool_v2"}
    results.write_text(json.dumps(document))
    report = blur_dataset(images, results, output)
    assert report.processed == 1
    row = _rows(output)["r.jpg"]
    assert row["regions"] == "2" and "orientation ambiguous" in row["reason"], row
    fresh = tmp_path / "fresh"
    blur_dataset(images, results, fresh)
    assert (output / "r.jpg").read_bytes() == (fresh / "r.jpg").read_bytes()


# ----------------------------------------------------------------------------------------------------------
# (4) Further pictures in a file copied "unchanged": animation frames and TIFF pages no detector saw


def _multi_picture(kind: str) -> bytes:
    """A PNG animation or a two-page TIFF: an empty first picture, a person (fine detail) in the second."""
    import io

    from PIL import Image

    from conftest import textured_pixels

    empty = Image.fromarray(np.full((240, 320, 3), 120, np.uint8))
    person_picture = Image.fromarray(textured_pixels(320, 240, seed=5))
    buffer = io.BytesIO()
    if kind == "apng":
        empty.save(buffer, "PNG", save_all=True, append_images=[person_picture], duration=500)
    else:
        empty.save(buffer, "TIFF", save_all=True, append_images=[person_picture])
    return buffer.getvalue()


@pytest.mark.parametrize("kind, name", [("apng", "a.png"), ("tiff", "t.tif")])
def test_a_file_whose_further_frames_no_detector_saw_is_not_copied(tmp_path: Path, kind: str, name: str) -> None:
    """Detectors (MegaDetector, trapblur's own) look at a file's first picture only. An animated PNG or a
    multi-page TIFF whose first picture is empty was copied byte for byte, its other frames included,
    although nobody had looked at them for people."""
    images = tmp_path / "cams"
    images.mkdir()
    (images / name).write_bytes(_multi_picture(kind))
    _write(images, "empty.jpg", 2)
    results = write_md(tmp_path / "md.json", [{"file": name, "detections": []}, {"file": "empty.jpg", "detections": []}])
    output = tmp_path / "out"
    report = blur_dataset(images, results, output)
    row = _rows(output)[name]
    assert row["action"] == "withheld" and "the detector did not look at" in row["reason"], row
    assert not (output / name).exists()
    assert _rows(output)["empty.jpg"]["action"] == "copied" and not report.ok


def test_a_tiff_with_a_reduced_resolution_thumbnail_is_still_copied(tmp_path: Path) -> None:
    """A second IFD marked reduced-resolution (NewSubfileType bit 0) is a preview of the first page, not
    another picture: such a TIFF with nothing to hide is copied as before."""
    import io

    from PIL import Image

    from conftest import textured_pixels

    picture = Image.fromarray(textured_pixels(320, 240, seed=6))
    buffer = io.BytesIO()
    # Pillow writes the same tags on every page: NewSubfileType 1 (reduced-resolution) on both
    picture.save(buffer, "TIFF", save_all=True, append_images=[picture.resize((80, 60))], tiffinfo={254: 1})
    data = buffer.getvalue()
    images = tmp_path / "cams"
    images.mkdir()
    (images / "t.tif").write_bytes(data)
    results = write_md(tmp_path / "md.json", [{"file": "t.tif", "detections": []}])
    output = tmp_path / "out"
    blur_dataset(images, results, output)
    assert _rows(output)["t.tif"]["action"] == "copied"
    assert (output / "t.tif").read_bytes() == data


# ----------------------------------------------------------------------------------------------------------
# Clear errors: malformed entries fail their entry, not the run


@pytest.mark.parametrize("file, action", [("/cams/a.jpg\u0000.jpg", "withheld"), ("a\u0000.jpg", "withheld"),
                                          ("D:\\cams\u0000\\a.jpg", "blurred")])  # matched by its trailing part
def test_an_entry_naming_a_path_with_a_nul_byte_does_not_stop_the_run(tmp_path: Path, file: str, action: str,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """JSON can spell a NUL character (\\u0000); no file system can hold one. An absolute entry with one made
    the path check raise ValueError: a traceback, nothing written."""
    images = tmp_path / "cams"
    _write(images, "a.jpg", 1)
    _write(images, "b.jpg", 2)
    results = write_md(tmp_path / "md.json", [{"file": tmp_path.as_posix() + file if file.startswith("/") else file,
                                               "detections": [person(BOX)]},
                                              {"file": "b.jpg", "detections": []}])
    output = tmp_path / "out"
    code = main(["blur", str(images), "--results", str(results), "--out", str(output), "-q"])
    assert code == (0 if action == "blurred" else 1), capsys.readouterr()
    rows = _rows(output)
    assert rows["b.jpg"]["action"] == "copied" and rows["a.jpg"]["action"] == action


def test_cli_threshold_given_twice_for_one_category_is_refused(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """``--threshold person=0.05,person=0.5`` silently kept the last (the higher, blurring fewer people)."""
    images = tmp_path / "cams"
    _write(images, "a.jpg", 1)
    results = write_md(tmp_path / "md.json", [{"file": "a.jpg", "detections": [person(BOX, 0.2)]}])
    output = tmp_path / "out"
    code = main(["blur", str(images), "--results", str(results), "--out", str(output), "-q",
                 "--threshold", "person=0.05,person=0.5"])
    assert code == 2
    assert "two thresholds are given for person" in capsys.readouterr().err
    assert not output.exists()
    # the message for a malformed --threshold shows the syntax to type, not flags made of it
    assert main(["blur", str(images), "--results", str(results), "--out", str(output), "--threshold", "person="]) == 2
    error = capsys.readouterr().err
    assert "person=0.05,vehicle=0.2" in error and "--person" not in error


def test_a_progress_callback_that_cannot_take_done_and_total_is_refused_before_the_run(tmp_path: Path) -> None:
    """A callback with the wrong signature raised TypeError after the first image, leaving a half-done
    output folder."""
    images = tmp_path / "cams"
    _write(images, "a.jpg", 1)
    results = write_md(tmp_path / "md.json", [{"file": "a.jpg", "detections": []}])
    with pytest.raises(OptionsError, match="progress must be a function called as progress"):
        blur_dataset(images, results, tmp_path / "out", progress=lambda done: None)
    assert not (tmp_path / "out").exists()
    blur_dataset(images, results, tmp_path / "out", progress=lambda *counts: None)  # accepted


def test_a_correction_typed_composed_reaches_the_decomposed_file_name(tmp_path: Path) -> None:
    """A reviewer's box (a person the detector missed) in a corrections file edited in a spreadsheet, which
    writes names composed (NFC), did not reach the picture stored decomposed (NFD): the box was not blurred
    and the picture was copied."""
    images = tmp_path / "cams"
    on_disk = unicodedata.normalize("NFD", "Zoë_0001.jpg")
    _write(images, on_disk, 1)
    results = write_md(tmp_path / "md.json", [{"file": on_disk, "detections": []}])
    corrections = tmp_path / "corrections.csv"
    corrections.write_text("file,action,box,note\n" + unicodedata.normalize("NFC", "Zoë_0001.jpg")
                           + ',box,"[0.2, 0.25, 0.3, 0.5]",hiker\n', encoding="utf-8")
    output = tmp_path / "out"
    report = blur_dataset(images, results, output, corrections=corrections)
    assert not report.correction_problems
    assert _rows(output)[on_disk]["action"] == "blurred"
    before, after = decode(images / on_disk), decode(output / on_disk)
    assert detail_energy(after[INSIDE]) < 0.3 * detail_energy(before[INSIDE])


# ----------------------------------------------------------------------------------------------------------
# Pictures appended after a JPEG's own picture: no detector looked at them


def _appended_picture(seed: int) -> bytes:
    """A second, different photograph (a person in a motion photo's later frame, or an MPF image)."""
    return make_camera_jpeg(320, 240, seed=seed, thumbnail=False)


@pytest.mark.parametrize("trailer", ["jpeg", "video", "jpeg after padding"])
def test_what_a_copied_jpeg_carries_after_its_picture_is_not_copied(tmp_path: Path, trailer: str) -> None:
    images = tmp_path / "cams"
    images.mkdir()
    still = make_camera_jpeg(320, 240, seed=1)
    extra = {
        "jpeg": _appended_picture(7),
        "video": b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 64,
        "jpeg after padding": b"\x00" * 100 + _appended_picture(8),
    }[trailer]
    (images / "motion.jpg").write_bytes(still + extra)
    (images / "plain.jpg").write_bytes(still)
    results = write_md(tmp_path / "md.json", [{"file": "motion.jpg", "detections": []},
                                               {"file": "plain.jpg", "detections": []}])
    output = tmp_path / "share"
    blur_dataset(images, results, output)
    rows = _rows(output)
    assert rows["motion.jpg"]["action"] == "copied"
    assert "after the end of the picture removed" in rows["motion.jpg"]["reason"]
    assert (output / "motion.jpg").read_bytes() == still  # the picture and its metadata, byte for byte
    assert rows["plain.jpg"]["reason"] == "" and (output / "plain.jpg").read_bytes() == still
    assert rows["motion.jpg"]["input_sha256"] != rows["plain.jpg"]["input_sha256"]  # the input's own hash


def test_zero_padding_after_a_copied_jpeg_is_kept_byte_for_byte(tmp_path: Path) -> None:
    images = tmp_path / "cams"
    images.mkdir()
    padded = make_camera_jpeg(320, 240, seed=1) + b"\x00" * 512  # cameras pad files to a block size
    (images / "a.jpg").write_bytes(padded)
    results = write_md(tmp_path / "md.json", [{"file": "a.jpg", "detections": []}])
    blur_dataset(images, results, tmp_path / "share", link_unchanged=True)
    assert (tmp_path / "share" / "a.jpg").read_bytes() == padded
    assert _rows(tmp_path / "share")["a.jpg"]["encoding"] == "link"
