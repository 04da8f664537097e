"""Camtrap DP export, end to end: the standard's example package, its real Reconyx photographs blurred by the
real batch, and generated packages; every output validated offline against the standard's own profile and
table schemas (frictionless), media read back with exiftool and Pillow."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from trapblur import PackageFormatError, blur_dataset, export_camtrap_dp, write_results
from trapblur.results import Detection, ImageEntry, Results

from _camtrap_validate import camtrap_standard, validation_errors
from _export_support import SERIAL, camera_jpeg, leaks
from conftest import detail_energy, textured_pixels

BOX = (0.1, 0.2, 0.2, 0.5)


def table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The standard's example package with its ten Reconyx photographs blurred by trapblur: a person in the
    first, a detector failure on the second, the third left out of the results."""
    standard = camtrap_standard()
    root = tmp_path_factory.mktemp("camtrap")
    media = standard / "example" / "media"
    names = sorted(p.name for p in media.iterdir())
    entries = []
    for index, name in enumerate(names):
        if index == 0:
            entries.append(ImageEntry(name, (Detection("person", 0.91, BOX), Detection("animal", 0.7, (0.5, 0.5, 0.2, 0.2)))))
        elif index == 1:
            entries.append(ImageEntry(name, None, "inference failure"))
        elif index == 2:
            continue
        elif index == 3:
            entries.append(ImageEntry(name, (Detection("person", 0.04, BOX),)))  # below the threshold
        else:
            entries.append(ImageEntry(name, (Detection("animal", 0.8, (0.4, 0.4, 0.2, 0.2)),)))
    results = root / "md.json"
    write_results(Results(entries, info={"detector": "md_v5a.0.0.pt"}), results)
    share = root / "shareable"
    blur_dataset(media, results, share, workers=2)
    out = root / "package"
    result = export_camtrap_dp(share, standard / "example" / "datapackage.json", out)
    return {"standard": standard, "names": names, "share": share, "out": out, "result": result, "root": root,
            "results": results}


def test_the_new_package_is_valid_camtrap_dp(example: dict) -> None:
    assert validation_errors(example["out"]) == []


def test_media_point_at_the_blurred_copies_and_withheld_ones_are_private(example: dict) -> None:
    out, names = example["out"], example["names"]
    rows = {row["fileName"]: row for row in table(out / "media.csv")}
    originals = {row["fileName"]: row for row in table(example["standard"] / "example" / "media.csv")}
    public = [n for n in names if n not in (names[1], names[2])]
    for name in public:
        assert rows[name]["filePublic"] == "true" and rows[name]["filePath"] == f"media/{name}"
        assert (out / rows[name]["filePath"]).is_file()
    for name in (names[1], names[2]):  # the detector failed / not in the results: withheld by trapblur
        assert rows[name]["filePublic"] == "false" and not (out / "media" / name).exists()
    remote = [n for n, row in originals.items() if row["filePath"].startswith("https://")]
    assert remote and all(rows[n]["filePublic"] == "false" for n in remote), "never checked: made private"
    assert all(rows[n]["filePath"] == originals[n]["filePath"] for n in remote)
    assert sorted(p.name for p in (out / "media").iterdir()) == sorted(public)
    for column in ("mediaID", "deploymentID", "timestamp", "captureMethod", "fileMediatype"):
        assert [r[column] for r in table(out / "media.csv")] == [r[column] for r in originals.values()]
    result = example["result"]
    assert result.counts["public"] == 8 and result.counts["not public"] == 2
    assert result.counts["unmatched"] == len(remote)


def test_the_copies_keep_their_pixels_and_lose_gps_and_serials(example: dict) -> None:
    out, share, names = example["out"], example["share"], example["names"]
    assert leaks(example["standard"] / "example" / "media" / names[4]), "the Reconyx originals carry a serial"
    for name in (names[0], names[4]):
        copy, blurred = out / "media" / name, share / name
        assert leaks(copy) == []
        decoded = cv2.imdecode(np.frombuffer(copy.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
        expected = cv2.imdecode(np.frombuffer(blurred.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(decoded, expected)
        with Image.open(copy) as image, Image.open(blurred) as source:
            assert image.getexif().get_ifd(0x8769).get(0x9003) == source.getexif().get_ifd(0x8769).get(0x9003)
    original = cv2.imread(str(example["standard"] / "example" / "media" / names[0]))
    person = cv2.imread(str(out / "media" / names[0]))
    h, w = original.shape[:2]
    inside = (slice(int(0.3 * h), int(0.6 * h)), slice(int(0.13 * w), int(0.27 * w)))
    assert detail_energy(person[inside]) < 0.5 * detail_energy(original[inside]), "the person is blurred"


def test_observations_are_kept_and_people_added(example: dict) -> None:
    out, names = example["out"], example["names"]
    before = (example["standard"] / "example" / "observations.csv").read_bytes()
    after = (out / "observations.csv").read_bytes()
    assert after.startswith(before), "existing observations byte for byte"
    added = table(out / "observations.csv")[len(table(example["standard"] / "example" / "observations.csv")):]
    media_id = next(r["mediaID"] for r in table(out / "media.csv") if r["fileName"] == names[0])
    assert len(added) == 1, "one person at 0.91; 0.04 is below the threshold; animals are not added"
    row = added[0]
    assert row["mediaID"] == media_id and row["observationType"] == "human" and row["observationLevel"] == "media"
    assert [float(row[k]) for k in ("bboxX", "bboxY", "bboxWidth", "bboxHeight")] == list(BOX)
    assert row["classificationMethod"] == "machine" and row["classifiedBy"] == "md_v5a.0.0.pt"
    assert float(row["classificationProbability"]) == 0.91 and row["observationTags"] == "trapblur:blurred"
    assert example["result"].observations_added == 1
    assert (out / "deployments.csv").read_bytes() == (example["standard"] / "example" / "deployments.csv").read_bytes()


def test_the_description_says_what_was_done_and_identifiers_stay(example: dict) -> None:
    before = json.loads((example["standard"] / "example" / "datapackage.json").read_text())
    after = json.loads((example["out"] / "datapackage.json").read_text())
    assert after["description"].startswith(before["description"])
    note = after["description"][len(before["description"]):]
    assert "trapblur" in note and "md_v5a.0.0.pt" in note and "blurred in 1 media" in note and "person 0.1" in note
    for key in ("id", "name", "created", "contributors", "licenses", "spatial", "temporal", "taxonomic",
                "resources", "profile", "relatedIdentifiers", "bibliographicCitation"):
        assert after[key] == before[key], key


def test_a_package_around_the_blurred_folder_and_remote_paths(example: dict, tmp_path: Path) -> None:
    """Blurring the package folder itself (media/ inside the shareable copy), and rows that name a URL
    whose fileName is in the shareable folder."""
    standard, names = example["standard"], example["names"]
    package = tmp_path / "in"
    shutil.copytree(standard / "example", package)
    media_csv = package / "media.csv"
    rows = table(media_csv)
    for row in rows:
        if row["fileName"] == names[5]:
            row["filePath"] = "https://multimedia.example.org/assets/abc/file"
    with media_csv.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    entries = [ImageEntry(f"media/{name}", ()) for name in names]
    results = tmp_path / "md.json"
    write_results(Results(entries), results)
    share = tmp_path / "shareable"
    blur_dataset(package, results, share)
    out = tmp_path / "out"
    result = export_camtrap_dp(share, package / "datapackage.json", out, unmatched="keep")
    assert validation_errors(out) == []
    new = {row["fileName"]: row for row in table(out / "media.csv")}
    assert all(new[n]["filePublic"] == "true" for n in names) and result.counts["public"] == 10
    assert new[names[5]]["filePath"] == f"media/media/{names[5]}" and (out / "media" / "media" / names[5]).is_file()
    assert new[names[6]]["filePath"] == f"media/{names[6]}" and (out / "media" / names[6]).is_file()
    kept = {row["mediaID"]: row for row in table(package / "media.csv") if row["fileName"] not in names}
    assert all(new[r["fileName"]] == r for r in kept.values()), "unmatched rows kept as they were"


def _write_package(folder: Path, media: list[dict[str, str]], observations: list[dict[str, str]] | None = None) -> Path:
    """A small Camtrap DP package (descriptor of the standard's example, our own tables)."""
    standard = camtrap_standard()
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = json.loads((standard / "example" / "datapackage.json").read_text())
    descriptor["resources"] = [r for r in descriptor["resources"] if r["name"] != "individuals"]
    (folder / "datapackage.json").write_text(json.dumps(descriptor, indent=2))
    deployments = table(standard / "example" / "deployments.csv")[:1]
    _write_csv(folder / "deployments.csv", deployments)
    header = list(table(standard / "example" / "media.csv")[0])
    _write_csv(folder / "media.csv", [{k: row.get(k, "") for k in header} for row in media])
    obs_header = list(table(standard / "example" / "observations.csv")[0])
    _write_csv(folder / "observations.csv", [{k: row.get(k, "") for k in obs_header} for row in observations or []],
               header=obs_header)
    return folder / "datapackage.json"


def _write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=header or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _media_row(media_id: str, name: str, folder: str = "media") -> dict[str, str]:
    return {"mediaID": media_id, "deploymentID": "00a2c20d", "timestamp": "2024-05-01T06:12:30+02:00",
            "filePath": f"{folder}/{name}", "filePublic": "false", "fileName": name, "fileMediatype": "image/jpeg"}


@pytest.fixture
def generated(tmp_path: Path) -> dict[str, Path]:
    """Generated camera JPEGs with GPS, serials, maker notes and XMP, and a PNG with EXIF and text."""
    cameras = tmp_path / "cameras" / "cam1"
    cameras.mkdir(parents=True)
    for index in range(1, 4):
        (cameras / f"IMG_{index}.JPG").write_bytes(camera_jpeg(640, 480, index, f"2024:05:01 06:12:3{index}"))
    png = Image.fromarray(textured_pixels(320, 240, 7))
    info = __import__("PIL.PngImagePlugin", fromlist=["PngInfo"]).PngInfo()
    info.add_text("Comment", "serial UXR6BI02004234 at 51.49N 4.77E")
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif.get_ifd(0x8825)[1] = "N"
    png.save(buffer, "PNG", pnginfo=info, exif=exif.tobytes())
    (cameras / "IMG_4.png").write_bytes(buffer.getvalue())
    results = tmp_path / "md.json"
    write_results(Results([
        ImageEntry("cam1/IMG_1.JPG", (Detection("person", 0.8, BOX), Detection("vehicle", 0.6, (0.5, 0.5, 0.4, 0.3)))),
        ImageEntry("cam1/IMG_2.JPG", (Detection("vehicle", 0.9, (0.6, 0.6, 0.5, 0.5)),)),
        ImageEntry("cam1/IMG_3.JPG", ()),
        ImageEntry("cam1/IMG_4.png", ()),
    ], info={"detector": "md_v5a.0.0.pt"}), results)
    package = _write_package(tmp_path / "in", [
        _media_row("m1", "IMG_1.JPG", "media/cam1"), _media_row("m2", "IMG_2.JPG", "media/cam1"),
        _media_row("m3", "IMG_3.JPG", "media/cam1"), {**_media_row("m4", "IMG_4.png", "media/cam1"),
                                                      "fileMediatype": "image/png"},
    ])
    return {"cameras": tmp_path / "cameras", "results": results, "package": package, "root": tmp_path}


def test_generated_package_with_vehicles_blurred(generated: dict[str, Path]) -> None:
    share = generated["root"] / "shareable"
    blur_dataset(generated["cameras"], generated["results"], share, categories=["person", "vehicle"])
    out = generated["root"] / "out"
    result = export_camtrap_dp(share, generated["package"], out)
    assert validation_errors(out) == []
    assert result.ok and result.counts["public"] == 4
    for path in (out / "media" / "cam1").iterdir():
        assert leaks(path) == [], path
    for path in out.rglob("*"):  # the tables, the descriptor and every media file
        if path.is_file():
            assert SERIAL.encode() not in path.read_bytes() and b"LENS-998877" not in path.read_bytes(), path
    added = table(out / "observations.csv")
    assert sorted((r["mediaID"], r["observationType"]) for r in added) == [("m1", "human"), ("m1", "vehicle"),
                                                                           ("m2", "vehicle")]
    assert all(r["observationTags"] == "trapblur:blurred" for r in added)
    assert "people and vehicles" in json.loads((out / "datapackage.json").read_text())["description"]


def test_vehicles_not_blurred_are_not_added(generated: dict[str, Path]) -> None:
    share = generated["root"] / "shareable"
    blur_dataset(generated["cameras"], generated["results"], share)
    out = generated["root"] / "out"
    export_camtrap_dp(share, generated["package"], out)
    assert [(r["mediaID"], r["observationType"]) for r in table(out / "observations.csv")] == [("m1", "human")]
    assert validation_errors(out) == []


def test_unmatched_error_policy_and_ambiguous_names(generated: dict[str, Path]) -> None:
    share = generated["root"] / "shareable"
    blur_dataset(generated["cameras"], generated["results"], share)
    package = _write_package(generated["root"] / "other", [
        _media_row("m1", "IMG_1.JPG", "media/cam1"), _media_row("x9", "IMG_99.JPG", "media/cam1"),
    ])
    with pytest.raises(PackageFormatError, match=r"media\.csv: row 3 \(mediaID 'x9'\).*IMG_99"):
        export_camtrap_dp(share, package, generated["root"] / "out", unmatched="error")
    assert not (generated["root"] / "out").exists()

    # Two cameras with an IMG_1.JPG: a row that gives only the name (a URL path) matches neither.
    cameras = generated["root"] / "two-cameras"
    shutil.copytree(generated["cameras"], cameras)
    shutil.copytree(cameras / "cam1", cameras / "cam2")
    results = json.loads(generated["results"].read_text())
    results["images"] += [{**entry, "file": entry["file"].replace("cam1", "cam2")} for entry in results["images"]]
    (generated["root"] / "two.json").write_text(json.dumps(results))
    share2 = generated["root"] / "shareable-two"
    blur_dataset(cameras, generated["root"] / "two.json", share2)
    package = _write_package(generated["root"] / "by-name", [
        {**_media_row("u1", "IMG_1.JPG"), "filePath": "https://example.org/assets/u1/file"},
        _media_row("p2", "IMG_2.JPG", "media/cam2"),
    ])
    result = export_camtrap_dp(share2, package, generated["root"] / "out2")
    rows = {row["mediaID"]: row for row in table(generated["root"] / "out2" / "media.csv")}
    assert rows["u1"]["filePublic"] == "false" and rows["u1"]["filePath"].startswith("https://")
    assert rows["p2"]["filePublic"] == "true" and rows["p2"]["filePath"] == "media/cam2/IMG_2.JPG"
    assert result.counts["unmatched"] == 1


@pytest.mark.parametrize("breakage, message", [
    (lambda d: d.pop("project"), r"datapackage\.json: not a valid Camtrap DP package: required field 'project'"),
    (lambda d: d["resources"].pop(1), r"datapackage\.json: field 'resources' has no resource named 'media'"),
    (lambda d: d["project"].pop("samplingDesign"), r"datapackage\.json: .*'project\.samplingDesign' is missing"),
    (lambda d: d["resources"][1].update(path="missing.csv"), r"resources\[1\] \(media\): field 'path'.*does not exist"),
])
def test_invalid_descriptors_name_the_file_and_field(generated: dict[str, Path], breakage, message: str) -> None:
    path = generated["package"]
    descriptor = json.loads(path.read_text())
    breakage(descriptor)
    path.write_text(json.dumps(descriptor))
    share = generated["root"] / "shareable"
    blur_dataset(generated["cameras"], generated["results"], share)
    with pytest.raises(PackageFormatError, match=message):
        export_camtrap_dp(share, path, generated["root"] / "out")


@pytest.mark.parametrize("change, message", [
    ({"filePublic": "yes"}, r"media\.csv: row 2, field 'filePublic': 'yes' is not true or false"),
    ({"favorite": "maybe"}, r"media\.csv: row 2, field 'favorite': 'maybe' is not true or false"),
    ({"timestamp": "2024-05-01 06:12"}, r"media\.csv: row 2, field 'timestamp': '2024-05-01 06:12' is not a date-time"),
    ({"deploymentID": "nowhere"}, r"media\.csv: row 2, field 'deploymentID': 'nowhere' is not a deploymentID"),
    ({"mediaID": "m2"}, r"media\.csv: row 3, field 'mediaID': 'm2' is not unique"),
    ({"filePath": "../outside/IMG_1.JPG"}, r"media\.csv: row 2, field 'filePath'"),
    ({"fileMediatype": ""}, r"media\.csv: row 2, field 'fileMediatype': a value is required"),
])
def test_invalid_tables_name_the_file_row_and_field(generated: dict[str, Path], change: dict, message: str) -> None:
    package = _write_package(generated["root"] / "bad", [
        {**_media_row("m1", "IMG_1.JPG", "media/cam1"), **change}, _media_row("m2", "IMG_2.JPG", "media/cam1"),
    ])
    share = generated["root"] / "shareable"
    blur_dataset(generated["cameras"], generated["results"], share)
    with pytest.raises(PackageFormatError, match=message):
        export_camtrap_dp(share, package, generated["root"] / "out")
    # frictionless agrees the package is invalid (except where only trapblur looks: paths climbing out).
    if "filePath" not in change:
        assert validation_errors(package.parent)


def test_missing_column_names_the_table(generated: dict[str, Path]) -> None:
    media = generated["package"].parent / "media.csv"
    rows = table(media)
    _write_csv(media, [{k: v for k, v in row.items() if k != "filePublic"} for row in rows])
    share = generated["root"] / "shareable"
    blur_dataset(generated["cameras"], generated["results"], share)
    with pytest.raises(PackageFormatError, match=r"media\.csv: required column 'filePublic' is missing"):
        export_camtrap_dp(share, generated["package"], generated["root"] / "out")


def test_a_copy_that_cannot_be_cleaned_is_not_made_public(tmp_path: Path) -> None:
    """TIFF metadata cannot be cleaned of GPS here: such a file stays out of the package, filePublic false."""
    cameras = tmp_path / "cameras" / "cam1"
    cameras.mkdir(parents=True)
    exif = Image.Exif()
    exif.get_ifd(0x8825)[1] = "N"
    Image.fromarray(textured_pixels(320, 240, 3)).save(cameras / "IMG_1.tif", exif=exif.tobytes())
    (cameras / "IMG_2.JPG").write_bytes(camera_jpeg(320, 240, 2, "2024:05:01 06:12:30"))
    results = tmp_path / "md.json"
    write_results(Results([ImageEntry("cam1/IMG_1.tif", ()), ImageEntry("cam1/IMG_2.JPG", ())]), results)
    share = tmp_path / "shareable"
    blur_dataset(tmp_path / "cameras", results, share)
    package = _write_package(tmp_path / "in", [
        {**_media_row("t1", "IMG_1.tif", "media/cam1"), "fileMediatype": "image/tiff"},
        _media_row("j2", "IMG_2.JPG", "media/cam1"),
    ])
    out = tmp_path / "out"
    result = export_camtrap_dp(share, package, out)
    rows = {row["mediaID"]: row for row in table(out / "media.csv")}
    assert rows["t1"]["filePublic"] == "false" and not (out / "media/cam1/IMG_1.tif").exists()
    assert rows["j2"]["filePublic"] == "true" and (out / "media/cam1/IMG_2.JPG").is_file()
    assert result.counts["not public"] == 1 and not result.ok
    assert any("cannot be cleaned" in reason for reason in result.reasons)
    assert validation_errors(out) == []
