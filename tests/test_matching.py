"""Results entries matched to files: never another picture's detections, whatever the path style."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from trapblur import OptionsError, blur_dataset
from trapblur.cli import main
from trapblur.dataset import build_dataset
from trapblur.errors import ResultsMismatchError
from trapblur.pipeline import REPORT_NAME
from trapblur.results import results_from_dict

from conftest import decode, detail_energy, make_camera_jpeg, person, tree_digest, write_md

BOX = [0.2, 0.25, 0.3, 0.5]
INSIDE = (slice(70, 170), slice(75, 150))  # inside BOX on 320x240


def _write(root: Path, relative: str, seed: int) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make_camera_jpeg(320, 240, seed=seed))
    return path


def _rows(output: Path) -> dict[str, dict[str, str]]:
    with (output / REPORT_NAME).open(newline="") as stream:
        return {row["input"]: row for row in csv.DictReader(stream)}


def _matches(root: Path, files: list[str]) -> dict[str, str | None]:
    """entry -> the relative path it was matched to (None when unmatched), through build_dataset."""
    results = results_from_dict({"detection_categories": {"2": "person"},
                                 "images": [{"file": f, "detections": [person(BOX, 0.1 + i / 100)]}
                                            for i, f in enumerate(files)]})
    dataset = build_dataset(root, results)
    matched = {f.entry.file: f.relative for f in dataset.files if f.entry is not None}
    return {f: matched.get(f) for f in files}


# ----------------------------------------------------------------------------------------------------------
# Results made for another folder on this machine


def test_results_for_another_folder_on_this_machine_are_refused(tmp_path: Path) -> None:
    """Two cards, same file names: card A's results must never describe card B's pictures."""
    card_a, card_b = tmp_path / "cardA", tmp_path / "cardB"
    _write(card_a, "DCIM/100MEDIA/IMG_0001.JPG", 1)  # an empty frame on card A
    _write(card_b, "DCIM/100MEDIA/IMG_0001.JPG", 2)  # a person on card B
    _write(card_b, "DCIM/100MEDIA/IMG_0002.JPG", 3)
    results = write_md(tmp_path / "md.json", [
        {"file": str(card_a / "DCIM/100MEDIA/IMG_0001.JPG"), "detections": []},
        {"file": str(card_a / "DCIM/100MEDIA/IMG_0009.JPG"), "detections": []},  # gone, but its folder is here
        {"file": "DCIM/100MEDIA/IMG_0002.JPG", "detections": []},
    ])
    output = tmp_path / "share"
    report = blur_dataset(card_b, results, output)
    rows = _rows(output)
    assert rows[str(card_a / "DCIM/100MEDIA/IMG_0001.JPG")]["action"] == "refused"
    assert "another folder on this machine" in rows[str(card_a / "DCIM/100MEDIA/IMG_0001.JPG")]["reason"]
    assert rows[str(card_a / "DCIM/100MEDIA/IMG_0009.JPG")]["action"] == "refused"
    assert rows["DCIM/100MEDIA/IMG_0001.JPG"]["action"] == "withheld"  # not in the results: not copied
    assert not (output / "DCIM/100MEDIA/IMG_0001.JPG").exists()
    assert rows["DCIM/100MEDIA/IMG_0002.JPG"]["action"] == "copied"
    assert report.matched_by_trailing_part == 0


def test_results_listing_no_image_of_the_folder_stop_before_writing(tmp_path: Path, capsys) -> None:
    card_a, card_b = tmp_path / "cardA", tmp_path / "cardB"
    for n in range(3):
        _write(card_a, f"DCIM/100MEDIA/IMG_000{n}.JPG", n)
        _write(card_b, f"DCIM/100MEDIA/IMG_000{n}.JPG", 10 + n)
    results = write_md(tmp_path / "md.json", [
        {"file": str(card_a / f"DCIM/100MEDIA/IMG_000{n}.JPG"), "detections": []} for n in range(3)
    ])
    before = tree_digest(card_b)
    for copy_unlisted in ([], ["--copy-unlisted"]):
        status = main(["blur", str(card_b), "--results", str(results), "--out", str(tmp_path / "share"), "-q",
                       *copy_unlisted])
        assert status == 2
        err = capsys.readouterr().err
        assert "none of the 3 images" in err and "Wrong results file, or wrong image folder?" in err
        assert "3 refused" in err
        assert not (tmp_path / "share").exists()
    with pytest.raises(ResultsMismatchError):
        blur_dataset(card_b, write_md(tmp_path / "other.json", [{"file": "elsewhere/x.jpg", "detections": []}]),
                     tmp_path / "share")
    with pytest.raises(OptionsError, match="the results list no images"):
        blur_dataset(card_b, write_md(tmp_path / "empty.json", []), tmp_path / "share")
    assert tree_digest(card_b) == before and not (tmp_path / "share").exists()


def test_under_half_listed_is_a_warning_printed_first(tmp_path: Path, capsys) -> None:
    images = tmp_path / "cams"
    for n in range(5):
        _write(images, f"IMG_{n}.JPG", n)
    results = write_md(tmp_path / "md.json", [{"file": "IMG_0.JPG", "detections": []},
                                              {"file": "IMG_1.JPG", "detections": []}])
    report = blur_dataset(images, results, tmp_path / "share")
    assert len(report.warnings) == 1 and "only 2 of the 5 images" in report.warnings[0]
    assert report.summary().startswith("WARNING: only 2 of the 5 images")
    assert main(["blur", str(images), "--results", str(results), "--out", str(tmp_path / "s2"), "-q"]) == 1
    assert capsys.readouterr().out.startswith("WARNING: only 2 of the 5 images")
    # At half or more, no warning.
    results = write_md(tmp_path / "md3.json", [{"file": f"IMG_{n}.JPG", "detections": []} for n in range(3)])
    assert blur_dataset(images, results, tmp_path / "s3").warnings == []


# ----------------------------------------------------------------------------------------------------------
# Results from other machines: one folder prefix, inferred from every entry


@pytest.mark.parametrize(
    "prefix",
    [
        "D:\\cams\\siteX\\", "d:/cams/siteX/", "\\\\nas\\share\\cams\\siteX\\", "/Volumes/CARD/siteX/",
        "/home/kyra/Camera traps 2024/siteX/", "C:\\Users\\Kyra\\Désktop\\siteX\\",
    ],
)
def test_other_machines_paths_match_under_one_inferred_prefix(tmp_path: Path, prefix: str) -> None:
    root = tmp_path / "siteX"
    for relative in ("DCIM/100MEDIA/IMG_0001.JPG", "DCIM/100MEDIA/IMG_0002.JPG", "cam2/IMG_0001.JPG", "IMG_0003.JPG"):
        _write(root, relative, len(relative))
    sep = "\\" if "\\" in prefix else "/"
    entries = [prefix + p.replace("/", sep) for p in ("DCIM/100MEDIA/IMG_0001.JPG", "DCIM/100MEDIA/IMG_0002.JPG",
                                                      "cam2/IMG_0001.JPG")]
    stray = prefix + sep.join(["other", "DCIM", "100MEDIA", "IMG_0002.JPG"])  # another card under the same folder
    foreign = prefix.replace("siteX", "siteY") + "IMG_0003.JPG"  # another site's picture of the same name
    matched = _matches(root, [*entries, stray, foreign])
    assert [matched[e] for e in entries] == ["DCIM/100MEDIA/IMG_0001.JPG", "DCIM/100MEDIA/IMG_0002.JPG",
                                             "cam2/IMG_0001.JPG"]
    assert matched[stray] is None and matched[foreign] is None


def test_an_entry_under_the_prefix_is_not_rematched_deeper(tmp_path: Path) -> None:
    """Greedy suffix matching gave /mnt/card/other/IMG_0001.JPG the top-level IMG_0001.JPG's place."""
    root = tmp_path / "cams"
    _write(root, "IMG_0001.JPG", 1)  # a person
    _write(root, "A/IMG_0005.JPG", 2)
    _write(root, "A/IMG_0006.JPG", 3)
    results = write_md(tmp_path / "md.json", [
        {"file": "/mnt/card/cams/A/IMG_0005.JPG", "detections": []},
        {"file": "/mnt/card/cams/A/IMG_0006.JPG", "detections": []},
        {"file": "/mnt/card/cams/other/IMG_0001.JPG", "detections": []},  # an empty frame of another folder
    ])
    output = tmp_path / "share"
    report = blur_dataset(root, results, output)
    rows = _rows(output)
    assert rows["IMG_0001.JPG"]["action"] == "withheld" and not (output / "IMG_0001.JPG").exists()
    assert rows["/mnt/card/cams/other/IMG_0001.JPG"]["action"] == "missing"
    assert "'/mnt/card/cams'" in rows["/mnt/card/cams/other/IMG_0001.JPG"]["reason"]
    assert report.matched_by_trailing_part == 2 and report.trailing_part_prefixes == {"/mnt/card/cams": 2}
    assert "2 results entries made on another machine were matched by their trailing part" in report.summary()
    assert "'/mnt/card/cams' (2)" in report.summary()


def test_an_entry_that_could_name_two_images_is_ambiguous(tmp_path: Path) -> None:
    root = tmp_path / "cams"
    _write(root, "DCIM/IMG_0001.JPG", 1)
    _write(root, "cam2/DCIM/IMG_0001.JPG", 2)
    _write(root, "cam2/DCIM/IMG_0002.JPG", 3)
    results = write_md(tmp_path / "md.json", [
        {"file": "E:\\cams\\cam2\\DCIM\\IMG_0001.JPG", "detections": []},  # cam2/DCIM/... or DCIM/... ?
        {"file": "E:\\cams\\cam2\\DCIM\\IMG_0002.JPG", "detections": []},
    ])
    output = tmp_path / "share"
    blur_dataset(root, results, output)
    rows = _rows(output)
    reason = rows["E:\\cams\\cam2\\DCIM\\IMG_0001.JPG"]["reason"]
    assert rows["E:\\cams\\cam2\\DCIM\\IMG_0001.JPG"]["action"] == "missing" and "ambiguous" in reason
    assert "'DCIM/IMG_0001.JPG'" in reason and "'cam2/DCIM/IMG_0001.JPG'" in reason
    assert rows["cam2/DCIM/IMG_0001.JPG"]["action"] == "withheld" and rows["DCIM/IMG_0001.JPG"]["action"] == "withheld"
    assert rows["cam2/DCIM/IMG_0002.JPG"]["action"] == "copied"


def test_two_other_folders_explaining_as_many_entries_match_neither(tmp_path: Path) -> None:
    root = tmp_path / "cams"
    _write(root, "IMG_0001.JPG", 1)
    _write(root, "IMG_0002.JPG", 2)
    matched = _matches(root, ["/mnt/a/IMG_0001.JPG", "/media/b/IMG_0002.JPG"])
    assert matched == {"/mnt/a/IMG_0001.JPG": None, "/media/b/IMG_0002.JPG": None}


def test_a_folder_of_another_name_is_warned_about(tmp_path: Path) -> None:
    root = tmp_path / "siteY"
    _write(root, "IMG_0001.JPG", 1)
    results = write_md(tmp_path / "md.json", [{"file": "D:\\traps\\siteX\\IMG_0001.JPG", "detections": []}])
    report = blur_dataset(root, results, tmp_path / "share")
    assert any("folder named 'siteX'" in w and "'siteY'" in w for w in report.warnings)
    same = write_md(tmp_path / "same.json", [{"file": "D:\\traps\\SITEY\\IMG_0001.JPG", "detections": []}])
    assert blur_dataset(root, same, tmp_path / "share2").warnings == []


# ----------------------------------------------------------------------------------------------------------
# Backslashes: separators from Windows, or part of a Linux file name


def test_a_file_name_with_a_backslash_is_matched_and_blurred(tmp_path: Path) -> None:
    root = tmp_path / "cams"
    _write(root, "site\\A IMG_0001.JPG", 1)  # one file whose name holds a backslash
    _write(root, "B\\C/x.jpg", 2)            # a folder whose name holds one
    _write(root, "win/IMG_7.JPG", 3)
    results = write_md(tmp_path / "md.json", [
        {"file": "site\\A IMG_0001.JPG", "detections": [person(BOX, 0.9)]},
        {"file": "B\\C/x.jpg", "detections": []},
        {"file": "win\\IMG_7.JPG", "detections": []},  # made on Windows
    ])
    output = tmp_path / "share"
    report = blur_dataset(root, results, output)
    assert report.ok, _rows(output)
    rows = _rows(output)
    assert rows["site\\A IMG_0001.JPG"]["action"] == "blurred"
    original, blurred = decode(root / "site\\A IMG_0001.JPG"), decode(output / "site\\A IMG_0001.JPG")
    assert detail_energy(blurred[INSIDE]) < 0.1 * detail_energy(original[INSIDE])
    assert rows["B\\C/x.jpg"]["action"] == "copied" and rows["win/IMG_7.JPG"]["action"] == "copied"


def test_a_backslash_that_could_be_either_is_ambiguous(tmp_path: Path) -> None:
    root = tmp_path / "cams"
    _write(root, "a\\b.jpg", 1)
    _write(root, "a/b.jpg", 2)
    _write(root, "c.jpg", 3)
    output = tmp_path / "share"
    blur_dataset(root, write_md(tmp_path / "md.json", [{"file": "a\\b.jpg", "detections": []},
                                                        {"file": "c.jpg", "detections": []}]), output)
    rows = _rows(output)
    assert "ambiguous" in rows["a\\b.jpg"]["reason"] and rows["a\\b.jpg"]["action"] == "missing"
    assert not (output / "a\\b.jpg").exists() and not (output / "a/b.jpg").exists()


def test_climbing_out_is_refused_in_either_separator(tmp_path: Path) -> None:
    root = tmp_path / "cams"
    _write(root, "x.jpg", 1)
    matched = _matches(root, ["x.jpg", "..\\secret\\x.jpg", "sub/../../x.jpg", "/abs/../x.jpg"])
    assert matched == {"x.jpg": "x.jpg", "..\\secret\\x.jpg": None, "sub/../../x.jpg": None, "/abs/../x.jpg": None}


def test_shared_animl_results_from_another_machine(shared_images: Path, shared_md: Path, tmp_path: Path) -> None:
    """animl-py's real file: absolute paths from another machine, which name none of the shared images."""
    document = json.loads((shared_md / "animl-py_md_gt.json").read_text())
    assert all(e["file"].startswith("/home/") for e in document["images"])
    with pytest.raises(ResultsMismatchError, match="none of the"):
        blur_dataset(shared_images, shared_md / "animl-py_md_gt.json", tmp_path / "share")
