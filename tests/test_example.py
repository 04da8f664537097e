"""The example dataset behind README's quick start: built offline, and blurred where the person is."""

from __future__ import annotations

from pathlib import Path

from trapblur import blur_dataset, make_example_dataset, read_results

from conftest import decode, detail_energy


def test_example_dataset_is_blurred_where_the_person_was_put(tmp_path: Path) -> None:
    example = make_example_dataset(tmp_path)
    results = read_results(example.results)
    assert len(results.images) == 5
    report = blur_dataset(example.images, example.results, tmp_path / "share")
    assert report.ok and report.counts["blurred"] == 3 and report.counts["copied"] == 2
    entry = next(e for e in results.images if e.file == "site_B/IMG_0001.jpg")
    x, y, w, h = entry.detections[0].bbox
    before, after = decode(example.images / entry.file), decode(tmp_path / "share" / entry.file)
    height, width = before.shape[:2]
    hiker = (slice(int(y * height) + 2, int((y + h) * height) - 2), slice(int(x * width) + 2, int((x + w) * width) - 2))
    assert detail_energy(after[hiker]) < 0.1 * detail_energy(before[hiker])
