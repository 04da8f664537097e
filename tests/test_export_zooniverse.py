"""Zooniverse export, end to end: a real shareable folder made by the real batch, read back independently
(exiftool, Pillow, OpenCV) and uploaded through panoptes-cli's own manifest reader and file checks (offline)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from _export_support import SERIAL, camera_jpeg, exiftool_tags, leaks, panoptes_upload
from conftest import detail_energy, person, write_md
from PIL import Image, ImageOps
from trapblur import ExportError, OptionsError, blur_dataset
from trapblur.codecs import as_displayed as orient
from trapblur.export import export_zooniverse
from trapblur.export.zooniverse import parse_duration

BOX = [0.3, 0.2, 0.3, 0.5]


def _time(second: int, minute: int = 12) -> str:
    return f"2024:05:01 06:{minute:02d}:{second:02d}"


@pytest.fixture(scope="module")
def share(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Cameras with a burst, a later pair, an undated frame, a rotated camera, withheld images; blurred."""
    root = tmp_path_factory.mktemp("zooniverse")
    cameras = root / "cameras"
    a, b = cameras / "site A" / "cam1", cameras / "site B"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    entries = []
    for index in range(1, 6):  # a burst of five, one second apart; the third has a person
        (a / f"IMG_000{index}.JPG").write_bytes(camera_jpeg(960, 720, index, _time(29 + index)))
        entries.append({"file": f"site A/cam1/IMG_000{index}.JPG",
                        "detections": [person(BOX, 0.9)] if index == 3 else []})
    for index, second in ((6, 40), (7, 42)):  # 70 s later: another subject
        (a / f"IMG_000{index}.JPG").write_bytes(camera_jpeg(960, 720, index, _time(second, minute=13)))
        entries.append({"file": f"site A/cam1/IMG_000{index}.JPG", "detections": []})
    (a / "IMG_0008.JPG").write_bytes(camera_jpeg(960, 720, 8, None))  # no capture time
    entries.append({"file": "site A/cam1/IMG_0008.JPG", "detections": []})
    (a / "IMG_0009.JPG").write_bytes(camera_jpeg(960, 720, 9, _time(50)))
    entries.append({"file": "site A/cam1/IMG_0009.JPG", "failure": "inference failure", "detections": None})
    (a / "IMG_0010.JPG").write_bytes(camera_jpeg(960, 720, 10, _time(51)))  # not in the results
    # Another camera at the same moment (never grouped with site A); the first one mounted sideways.
    (b / "B_0001.JPG").write_bytes(camera_jpeg(960, 720, 11, _time(30), orientation=6))
    entries.append({"file": "site B/B_0001.JPG", "detections": []})
    (b / "B_0002.JPG").write_bytes(camera_jpeg(960, 720, 12, _time(31)))
    entries.append({"file": "site B/B_0002.JPG", "detections": [person(BOX, 0.05)]})  # below the threshold
    # A small image at the top, named like an exported file.
    (cameras / "000001.jpg").write_bytes(camera_jpeg(400, 300, 13, "2024:06:01 00:00:00"))
    entries.append({"file": "000001.jpg", "detections": []})
    results = write_md(root / "md.json", entries)
    shareable = root / "shareable"
    report = blur_dataset(cameras, results, shareable, workers=2)
    assert report.counts["blurred"] == 1 and report.counts["withheld"] == 2
    return {"root": root, "cameras": cameras, "share": shareable, "results": results}


def manifest_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def exported_files(upload: Path) -> list[Path]:
    return sorted(p for p in upload.rglob("*.jpg"))


def subjects_of(upload: Path) -> list[list[str]]:
    """Each subject as its list of original paths, across every set."""
    subjects = []
    for manifest in sorted(upload.glob("set_*/manifest.csv")):
        for row in manifest_rows(manifest):
            subjects.append([row[k] for k in sorted(row) if k.startswith("#original_") and row[k]])
    return subjects


def test_bursts_become_subjects_and_manifests_have_the_columns(share: dict[str, Path], tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    result = export_zooniverse(share["share"], upload, max_side=640, workers=2)

    assert result.ok and result.counts["exported"] == 11 and result.subjects == 6
    assert sorted(map(sorted, subjects_of(upload))) == sorted(map(sorted, [
        ["000001.jpg"],
        ["site A/cam1/IMG_0001.JPG", "site A/cam1/IMG_0002.JPG", "site A/cam1/IMG_0003.JPG"],  # capped at 3
        ["site A/cam1/IMG_0004.JPG", "site A/cam1/IMG_0005.JPG"],
        ["site A/cam1/IMG_0006.JPG", "site A/cam1/IMG_0007.JPG"],
        ["site A/cam1/IMG_0008.JPG"],
        ["site B/B_0001.JPG", "site B/B_0002.JPG"],
    ]))
    manifest = upload / "set_001" / "manifest.csv"
    with manifest.open(newline="") as stream:
        header = next(csv.reader(stream))
    assert header == ["image_1", "image_2", "image_3", "#folder", "#original_1", "#original_2", "#original_3",
                      "#capture_time_1", "#capture_time_2", "#capture_time_3", "#blurred_1", "#blurred_2",
                      "#blurred_3"]
    rows = manifest_rows(manifest)
    assert all(rows[0][f"image_{k}"] for k in (1, 2, 3)), "the widest subject comes first (panoptes-cli reads columns from it)"
    by_first = {row["#original_1"]: row for row in rows}
    burst = by_first["site A/cam1/IMG_0001.JPG"]
    assert burst["#folder"] == "site A/cam1"
    assert [burst[f"#capture_time_{k}"] for k in (1, 2, 3)] == [
        "2024-05-01T06:12:30", "2024-05-01T06:12:31", "2024-05-01T06:12:32"]
    assert [burst[f"#blurred_{k}"] for k in (1, 2, 3)] == ["false", "false", "true"]
    assert by_first["site A/cam1/IMG_0008.JPG"]["#capture_time_1"] == "unknown"
    top = by_first["000001.jpg"]
    assert top["#folder"] == "(top level)" and top["image_1"] != "000001.jpg", "no file named like a hidden value"
    named = {(manifest.parent / row[f"image_{k}"]).resolve() for row in rows for k in (1, 2, 3) if row[f"image_{k}"]}
    assert named == {p.resolve() for p in exported_files(upload)}
    assert any("--allow-missing" in command for command in result.upload_commands)


def test_only_what_the_shareable_folder_holds_is_exported(share: dict[str, Path], tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    result = export_zooniverse(share["share"], upload, max_side=640, workers=2)
    originals = {o for subject in subjects_of(upload) for o in subject}
    assert "site A/cam1/IMG_0009.JPG" not in originals and "site A/cam1/IMG_0010.JPG" not in originals
    assert result.counts["not shared"] == 2
    with (upload / "export_report.csv").open(newline="") as stream:
        report = {row["image"]: row for row in csv.DictReader(stream)}
    assert report["site A/cam1/IMG_0009.JPG"]["action"] == "not shared"
    assert "inference failure" in report["site A/cam1/IMG_0009.JPG"]["reason"]
    assert len(exported_files(upload)) == result.counts["exported"] == 11


def test_the_blurred_copy_is_what_volunteers_see(share: dict[str, Path], tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    export_zooniverse(share["share"], upload, max_side=640, workers=1)
    with (upload / "export_report.csv").open(newline="") as stream:
        file = next(r["file"] for r in csv.DictReader(stream) if r["image"].endswith("IMG_0003.JPG"))
    exported = cv2.imread(str(upload / file))
    assert exported.shape[:2] == (480, 640)
    original = cv2.resize(cv2.imread(str(share["cameras"] / "site A/cam1/IMG_0003.JPG")), (640, 480),
                          interpolation=cv2.INTER_AREA)
    blurred = cv2.resize(cv2.imread(str(share["share"] / "site A/cam1/IMG_0003.JPG")), (640, 480),
                         interpolation=cv2.INTER_AREA)
    inside = (slice(int(0.3 * 480), int(0.6 * 480)), slice(int(0.35 * 640), int(0.55 * 640)))
    assert detail_energy(exported[inside]) < 0.3 * detail_energy(original[inside])
    assert np.abs(exported[inside].astype(int) - blurred[inside].astype(int)).mean() < 4


def test_sizes_fit_and_nothing_is_enlarged(share: dict[str, Path], tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    result = export_zooniverse(share["share"], upload, max_side=640, max_bytes=120_000, workers=2)
    assert result.counts["exported"] == 11
    with (upload / "export_report.csv").open(newline="") as stream:
        report = {row["image"]: row for row in csv.DictReader(stream) if row["action"] == "exported"}
    for image, row in report.items():
        path = upload / row["file"]
        assert path.stat().st_size <= 120_000 and int(row["bytes"]) == path.stat().st_size
        if image != "000001.jpg":  # 640 px of fine texture: about 190 kB at quality 90, so the search goes lower
            assert 50 <= int(row["quality"]) < 90
        with Image.open(path) as image:
            assert image.format == "JPEG" and (image.width, image.height) == (int(row["width"]), int(row["height"]))
    assert int(report["000001.jpg"]["quality"]) == 90
    assert (int(report["000001.jpg"]["width"]), int(report["000001.jpg"]["height"])) == (400, 300)
    assert (int(report["site B/B_0001.JPG"]["width"]), int(report["site B/B_0001.JPG"]["height"])) == (480, 640)


def test_an_image_that_cannot_fit_above_the_quality_floor_is_withheld(share: dict[str, Path], tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    result = export_zooniverse(share["share"], upload, max_side=640, max_bytes=50_000, min_quality=60)
    assert result.counts["exported"] == 1 and result.counts["withheld"] == 10 and not result.ok
    assert all("even at JPEG quality 60" in reason for reason in result.reasons)
    files = exported_files(upload)
    assert len(files) == 1 and files[0].stat().st_size <= 50_000
    rows = manifest_rows(upload / "set_001" / "manifest.csv")
    assert [row["#original_1"] for row in rows] == ["000001.jpg"]
    assert "quality 60" in result.summary()


def test_rotated_camera_is_exported_upright(share: dict[str, Path], tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    export_zooniverse(share["share"], upload, max_side=640, workers=1)
    with (upload / "export_report.csv").open(newline="") as stream:
        file = next(r["file"] for r in csv.DictReader(stream) if r["image"] == "site B/B_0001.JPG")
    with Image.open(upload / file) as image:
        assert image.size == (480, 640)
        exported = np.asarray(image.convert("RGB").resize((24, 32), Image.BOX)).astype(int)
    with Image.open(share["share"] / "site B/B_0001.JPG") as source:
        stored = source.convert("RGB").resize((32, 24), Image.BOX)
    differences = {}
    for name, turn in (("90 CW", Image.Transpose.ROTATE_270), ("90 CCW", Image.Transpose.ROTATE_90),
                       ("transpose", Image.Transpose.TRANSPOSE), ("transverse", Image.Transpose.TRANSVERSE)):
        differences[name] = np.abs(exported - np.asarray(stored.transpose(turn)).astype(int)).mean()
    assert min(differences, key=differences.get) == "90 CW" and differences["90 CW"] < 4, differences


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_matches_pillow_for_every_exif_orientation(orientation: int) -> None:
    stored = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(4, 6, 3)
    image = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "PNG", exif=exif.tobytes())
    with Image.open(io.BytesIO(buffer.getvalue())) as saved:
        expected = np.asarray(ImageOps.exif_transpose(saved))
    assert np.array_equal(orient(stored, orientation), expected)


def test_no_metadata_leaves_but_what_is_named(share: dict[str, Path], tmp_path: Path) -> None:
    # The shareable copy keeps the camera's metadata byte for byte: the readers do see what must not leave.
    assert len(leaks(share["share"] / "site A/cam1/IMG_0001.JPG")) >= 5
    plain, kept = tmp_path / "plain", tmp_path / "kept"
    export_zooniverse(share["share"], plain, max_side=640, workers=2)
    export_zooniverse(share["share"], kept, max_side=640, workers=2, keep_metadata=["DateTimeOriginal", "artist"])
    for path in exported_files(plain) + exported_files(kept):
        assert leaks(path) == [], path
        tags = exiftool_tags(path)
        groups = {key.split(":")[0] for key in tags if ":" in key}
        assert not groups & {"XMP-exif", "XMP-aux", "XMP-x", "MakerNotes", "IPTC", "Photoshop"}, groups
        assert "File:Comment" not in tags
    for text_file in [*plain.rglob("*.csv"), *kept.rglob("*.csv"), *plain.rglob(".trapblur-export.json")]:
        text = text_file.read_text(encoding="utf-8")
        assert SERIAL not in text and "LENS-998877" not in text and "29.76N" not in text, text_file
    plain_tags = exiftool_tags(exported_files(plain)[0])
    assert not [key for key in plain_tags if key.startswith(("IFD0:", "ExifIFD:", "IFD1:"))], plain_tags
    kept_tags = exiftool_tags(kept / "set_001" / manifest_rows(kept / "set_001" / "manifest.csv")[0]["image_1"])
    exif_keys = sorted(key for key in kept_tags if key.startswith(("IFD0:", "ExifIFD:", "IFD1:")))
    assert exif_keys == ["ExifIFD:DateTimeOriginal", "IFD0:Artist"], exif_keys
    assert kept_tags["ExifIFD:DateTimeOriginal"] == "2024:05:01 06:12:30"


@pytest.mark.parametrize("name", ["GPSLatitude", "GPSInfo", "BodySerialNumber", "serialnumber", "MakerNote",
                                  "CameraOwnerName", "Orientation", "NoSuchTag"])
def test_keeping_gps_serials_or_unknown_tags_is_refused(share: dict[str, Path], tmp_path: Path, name: str) -> None:
    with pytest.raises(OptionsError, match=name if name != "serialnumber" else "serial"):
        export_zooniverse(share["share"], tmp_path / "upload", keep_metadata=[name])
    assert not (tmp_path / "upload").exists()


def test_set_size_is_respected(share: dict[str, Path], tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    result = export_zooniverse(share["share"], upload, max_side=320, set_size=2, workers=2)
    manifests = sorted(upload.glob("set_*/manifest.csv"))
    assert [m.parent.name for m in manifests] == ["set_001", "set_002", "set_003"]
    assert [len(manifest_rows(m)) for m in manifests] == [2, 2, 2]
    assert len(result.manifests) == 3 and result.subjects == 6
    for manifest in manifests:  # every image of a set lies in that set's folder
        for row in manifest_rows(manifest):
            for k in (1, 2, 3):
                if row.get(f"image_{k}"):
                    assert (manifest.parent / row[f"image_{k}"]).is_file()


def test_one_image_per_subject_and_burst_gap_text(share: dict[str, Path], tmp_path: Path) -> None:
    single = export_zooniverse(share["share"], tmp_path / "single", max_side=320, images_per_subject=1)
    assert single.subjects == 11 and all("--allow-missing" not in c for c in single.upload_commands)
    tight = export_zooniverse(share["share"], tmp_path / "tight", max_side=320, burst_gap="500ms")
    assert all(len(subject) == 1 for subject in subjects_of(tmp_path / "tight")) and tight.subjects == 11
    assert parse_duration("2m") == 120 and parse_duration("1.5 s") == 1.5 and parse_duration(3) == 3
    with pytest.raises(OptionsError, match="burst_gap"):
        parse_duration("soon")


def test_exclude_people_leaves_out_every_person_and_every_unchecked_image(share: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    unchecked_share = tmp_path / "share-unlisted"
    blur_dataset(share["cameras"], share["results"], unchecked_share, copy_unlisted=True, workers=2)
    upload = tmp_path / "upload"
    result = export_zooniverse(unchecked_share, upload, max_side=320, exclude_people=True)
    originals = {o for subject in subjects_of(upload) for o in subject}
    assert "site A/cam1/IMG_0003.JPG" not in originals  # person at 0.9
    assert "site A/cam1/IMG_0010.JPG" not in originals  # copied without results: never checked
    assert "site B/B_0002.JPG" in originals  # 0.05 is below the run's threshold (0.1)
    assert result.counts["excluded"] == 2
    with (upload / "export_report.csv").open(newline="") as stream:
        reasons = {r["image"]: r["reason"] for r in csv.DictReader(stream) if r["action"] == "excluded"}
    assert "person detected (confidence 0.900 >= threshold 0.1)" in reasons["site A/cam1/IMG_0003.JPG"]
    assert "not checked for people" in reasons["site A/cam1/IMG_0010.JPG"]


def test_panoptes_cli_accepts_every_row(share: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    upload = tmp_path / "upload"
    result = export_zooniverse(share["share"], upload, max_side=640, workers=2)
    manifest = upload / "set_001" / "manifest.csv"
    command = result.upload_commands[0].split()
    options = [word for word in command if word.startswith("--")]
    uploaded = panoptes_upload(manifest, *options, home=tmp_path, monkeypatch=monkeypatch)
    rows = manifest_rows(manifest)
    assert len(uploaded.subjects) == len(rows) == 6, uploaded.output
    # The only complaints are about the empty image cells of shorter subjects (panoptes-cli issue 178).
    complaints = [line for line in uploaded.output.splitlines() if line.startswith("Error")]
    assert all(line == f'Error: File "{manifest.parent}/" could not be found.' for line in complaints), complaints
    for subject, row in zip(uploaded.subjects, rows, strict=True):
        named = [row[f"image_{k}"] for k in (1, 2, 3) if row[f"image_{k}"]]
        assert subject.locations == ["image/jpeg"] * len(named)
        assert [len(media) for media in subject._media_files] == [(manifest.parent / n).stat().st_size for n in named]
        assert subject.metadata["#original_1"] == row["#original_1"]


def test_panoptes_cli_plain_command_on_single_image_subjects(share: dict[str, Path], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    upload = tmp_path / "upload"
    result = export_zooniverse(share["share"], upload, max_side=640, images_per_subject=1)
    assert result.upload_commands == [f"panoptes subject-set upload-subjects SET_ID {upload / 'set_001' / 'manifest.csv'}"]
    manifest = upload / "set_001" / "manifest.csv"
    uploaded = panoptes_upload(manifest, home=tmp_path, monkeypatch=monkeypatch)
    assert "Error" not in uploaded.output and uploaded.exit_code == 0
    rows = manifest_rows(manifest)
    assert len(uploaded.subjects) == len(rows) == 11
    for subject, row in zip(uploaded.subjects, rows, strict=True):
        assert subject.locations == ["image/jpeg"]
        assert subject._media_files[0] == (manifest.parent / row["image_1"]).read_bytes()


def test_real_camera_trap_images(shared_images: Path, shared_md: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    shareable = tmp_path / "shareable"
    blur_dataset(shared_images, shared_md / "shared_images.md.json", shareable, workers=2)
    upload = tmp_path / "upload"
    result = export_zooniverse(shareable, upload, workers=2, keep_metadata=["DateTimeOriginal"])
    assert result.counts["exported"] == 7 and result.counts["not shared"] == 5
    files = exported_files(upload)
    assert len(files) == 7
    for path in files:
        assert path.stat().st_size <= 1_000_000
        assert leaks(path) == [], path
        with Image.open(path) as image:
            assert max(image.size) <= 1600
    rows = manifest_rows(upload / "set_001" / "manifest.csv")
    originals = {row["#original_1"] for row in rows}
    assert "broken_stn_african_elephants_truncated_file.jpg" not in originals
    assert {row["#blurred_1"] for row in rows if row["#original_1"].startswith("person_")} == {"true"}
    uploaded = panoptes_upload(upload / "set_001" / "manifest.csv", home=tmp_path, monkeypatch=monkeypatch)
    assert len(uploaded.subjects) == 7 and "Error" not in uploaded.output


def test_unusable_folders_are_refused(share: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="inside the shareable folder"):
        export_zooniverse(share["share"], share["share"] / "upload")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not made by trapblur export"):
        export_zooniverse(share["share"], foreign)
    assert (foreign / "notes.txt").read_text() == "mine"
    with pytest.raises(ExportError, match="not a trapblur output folder"):
        export_zooniverse(share["cameras"], tmp_path / "upload")
    unfinished = tmp_path / "unfinished"
    blur_dataset(share["cameras"], share["results"], unfinished)
    state = unfinished / ".trapblur" / "run.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "complete": False}))
    with pytest.raises(ExportError, match="did not finish"):
        export_zooniverse(unfinished, tmp_path / "upload")


def test_a_second_export_replaces_the_first(share: dict[str, Path], tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    export_zooniverse(share["share"], upload, max_side=320, set_size=2)
    assert (upload / "set_003").is_dir()
    export_zooniverse(share["share"], upload, max_side=320)
    assert sorted(p.name for p in upload.iterdir()) == [".trapblur-export.json", "export_report.csv", "set_001"]
    assert not list(tmp_path.glob(".upload.*"))


def test_every_format_the_batch_writes_exports_upright(shared_images: Path, tmp_path: Path) -> None:
    """Real JPEGs (colour, greyscale, CMYK, EXIF-rotated), 16-bit PNG, PNG with alpha, LZW TIFF."""
    cameras = tmp_path / "cameras"
    cameras.mkdir()
    for name in ("animal_stn_african_elephants.jpg", "animal_stn_african_elephants_with_exif_orientation.jpg",
                 "animal_stn_african_elephants_bw.jpg", "animal_stn_african_elephants_cmyk.jpg"):
        (cameras / name).write_bytes((shared_images / name).read_bytes())
    rgb = np.asarray(Image.open(shared_images / "animal_stn_african_elephants.jpg").convert("RGB").resize((640, 480)))
    cv2.imwrite(str(cameras / "sixteen.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    Image.fromarray(rgb).convert("RGBA").save(cameras / "alpha.png")
    Image.fromarray(rgb).save(cameras / "page.tif", compression="tiff_lzw")
    results = write_md(tmp_path / "md.json", [{"file": p.name, "detections": []} for p in cameras.iterdir()])
    blur_dataset(cameras, results, tmp_path / "shareable")
    upload = tmp_path / "upload"
    result = export_zooniverse(tmp_path / "shareable", upload, max_side=640, images_per_subject=1)
    assert result.ok and result.counts["exported"] == 7
    with (upload / "export_report.csv").open(newline="") as stream:
        files = {r["image"]: upload / r["file"] for r in csv.DictReader(stream)}
    reference = cv2.imread(str(files["animal_stn_african_elephants.jpg"])).astype(int)
    for name in ("animal_stn_african_elephants_with_exif_orientation.jpg", "animal_stn_african_elephants_cmyk.jpg",
                 "sixteen.png", "alpha.png", "page.tif"):
        exported = cv2.imread(str(files[name])).astype(int)
        assert exported.shape == (480, 640, 3), name
        assert np.abs(exported - reference).mean() < 6, name  # the same picture, upright, in its colours
    grey = cv2.imread(str(files["animal_stn_african_elephants_bw.jpg"]))
    assert np.abs(cv2.cvtColor(grey, cv2.COLOR_BGR2GRAY).astype(int)
                  - cv2.cvtColor(reference.astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(int)).mean() < 6


def test_report_columns_are_read_by_name_and_the_folder_is_trusted_only_as_reported(
        share: dict[str, Path], tmp_path: Path) -> None:
    """A report with columns in another order and a new one (as later versions write), a written image
    deleted since, and a file someone dropped into the shareable folder."""
    copy = tmp_path / "shareable"
    import shutil

    shutil.copytree(share["share"], copy)
    report = copy / "trapblur_report.csv"
    with report.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    columns = ["input_sha256", *reversed(list(rows[0]))]
    with report.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows({**row, "input_sha256": "ab" * 32} for row in rows)
    (copy / "site A/cam1/IMG_0002.JPG").unlink()
    (copy / "site A/cam1/dropped.jpg").write_bytes(camera_jpeg(320, 240, 99, _time(33)))
    upload = tmp_path / "upload"
    result = export_zooniverse(copy, upload, max_side=320)
    originals = {o for subject in subjects_of(upload) for o in subject}
    assert "site A/cam1/dropped.jpg" not in originals and "site A/cam1/IMG_0002.JPG" not in originals
    assert result.counts["exported"] == 10
    with (upload / "export_report.csv").open(newline="") as stream:
        listed = {r["image"]: r for r in csv.DictReader(stream)}
    assert listed["site A/cam1/IMG_0002.JPG"]["action"] == "not shared"
    assert "no such file is in the shareable folder" in listed["site A/cam1/IMG_0002.JPG"]["reason"]
    assert "site A/cam1/dropped.jpg" not in listed
