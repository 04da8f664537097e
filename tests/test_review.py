"""The review page without a browser: what goes where, escaping, limits, thumbnails, the command."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from trapblur import OutputFolderError, review
from trapblur.cli import main
from trapblur.errors import ImageError
from trapblur.review import review_folder_for, thumbnail
from trapblur.review_html import CSP, histogram_svg

from _review_support import LOW_BOX, SCRIPT_NAME, XSS_NAME, build_run
from conftest import make_camera_jpeg, tree_digest


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags out, entities decoded."""
    without = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", without))


def test_review_writes_one_offline_page_beside_the_share_and_nothing_inside_it(tmp_path: Path) -> None:
    run = build_run(tmp_path)
    before = tree_digest(run.share)
    page = review(run.share)
    assert page.path == tmp_path / "share.review" / "index.html" == review_folder_for(run.share) / "index.html"
    assert tree_digest(run.share) == before  # nothing written into the shareable folder
    assert "share.review" not in (run.share / "trapblur_results.json").read_text()
    document = page.path.read_text(encoding="utf-8")
    assert f'content="{html.escape(CSP)}"' in document
    # Nothing is loaded from anywhere: no src/href but inline data and the review's own pages.
    for url in re.findall(r'(?:src|href)="([^"]*)"', document):
        assert url.startswith("data:image/jpeg;base64,") or re.fullmatch(r"[a-z0-9-]+\.html#[a-z]+", url), url
    assert "@import" not in document and "url(" not in document
    text = text_of(document)
    assert "this page shows the original images, with the people in them not blurred" in text
    assert "never inside it" in text and "not listed in the shareable results" in text


def test_sections_hold_the_right_images_in_the_right_order(tmp_path: Path) -> None:
    run = build_run(tmp_path, blurred=3)
    page = review(run.share)
    document = page.path.read_text(encoding="utf-8")
    check = document[document.index('id="check"'):document.index('id="problems"')]
    problems = document[document.index('id="problems"'):document.index('id="blurred"')]
    blurred = document[document.index('id="blurred"'):]
    files = lambda part: [html.unescape(f) for f in re.findall(r'data-file="([^"]*)"', part)]  # noqa: E731
    # Check first: low person detections, highest first (0.07, then 0.06); shared set adds none above 0.05.
    assert files(check)[:2] == ["site B/low.jpg", f"site B/{XSS_NAME}"]
    assert "person 0.07 NOT blurred" in text_of(check)
    left, top = (f"{100 * v:.2f}%" for v in LOW_BOX[:2])
    assert f"left:{left};top:{top}" in check  # the box is drawn where the detector put it
    assert f"site B/{SCRIPT_NAME}" in files(problems)
    assert "not in the results file" in text_of(problems)
    assert [f for f in files(blurred) if f.startswith("site B/")] == [f"site B/person_{i}.jpg" for i in range(3)]
    assert '<h3 class="folder">site B</h3>' in blurred
    assert blurred.count("data-before=") == len(files(blurred))  # the original, on demand
    assert page.sections["blurred"][0] == page.sections["blurred"][1] == len(files(blurred))
    if run.shared:
        assert "site A/broken_animlpy_error_img_0bytes.JPG" in files(problems)
        assert "no preview: empty file (0 bytes)" in text_of(problems)
        assert "site A/person_animlpy_B012_2021-05-27_human.jpg" in files(blurred)


def test_summary_says_counts_settings_model_threshold_when_and_how_long(tmp_path: Path) -> None:
    run = build_run(tmp_path)
    document = review(run.share).path.read_text(encoding="utf-8")
    summary = re.sub(r"\s+", " ", text_of(document[document.index('id="summary"'):document.index('id="check"')]))
    for words in ("blurred", "copied", "withheld", "blur threshold person 0.1", "review floor 0.05",
                  "strength 1.0", "detector test detector", "conservative threshold 0.05", "finished 20",
                  "images processed", "Limits: each page shows at most 100 images per section"):
        assert words in summary, words
    assert re.search(r"took \d+\.\d s", summary)
    svg = document[document.index("<svg"):document.index("</svg>")]
    assert 'class="threshold"' in svg and "blur threshold 0.1" in svg and "review floor 0.05" in svg


def test_every_name_and_reason_is_text_not_markup(tmp_path: Path) -> None:
    run = build_run(tmp_path, use_shared=False)
    document = review(run.share).path.read_text(encoding="utf-8")
    assert "<img src=x" not in document and "<script>alert" not in document and "<!--" not in document
    assert html.escape(XSS_NAME) in document and html.escape(SCRIPT_NAME) in document
    assert html.escape(SCRIPT_NAME).count("&amp;amp;") == 1  # escaped once, not twice or never
    assert document.count("<script>") == 1  # ours, at the end


def test_limits_paginate_and_cap_each_section(tmp_path: Path) -> None:
    run = build_run(tmp_path, blurred=7, use_shared=False)
    page = review(run.share, page_size=2, max_cards=5)
    names = sorted(p.name for p in page.pages)
    assert names == ["blurred-2.html", "blurred-3.html", "index.html"]
    assert page.sections["blurred"] == (7, 5)
    third = (page.folder / "blurred-3.html").read_text(encoding="utf-8")
    assert len(re.findall(r"<article ", third)) == 1
    assert "7 images; the review shows 5 of them (the limit); page 3 of 3." in text_of(third)
    assert 'href="blurred-2.html#blurred"' in third
    # A later review with fewer pages removes the pages it no longer writes.
    review(run.share, page_size=5, max_cards=5)
    assert sorted(p.name for p in page.folder.iterdir()) == ["index.html"]


def test_review_refuses_folders_that_would_leak_or_are_not_runs(tmp_path: Path) -> None:
    run = build_run(tmp_path, use_shared=False)
    with pytest.raises(OutputFolderError, match="must not be written inside the shareable folder"):
        review(run.share, output=run.share / "review")
    with pytest.raises(OutputFolderError, match="inside the image folder"):
        review(run.share, output=run.images / "review")
    with pytest.raises(OutputFolderError, match="not a folder written by trapblur"):
        review(run.images)
    state = run.share / ".trapblur" / "run.json"
    state.write_text(state.read_text().replace('"complete": true', '"complete": false'))
    with pytest.raises(OutputFolderError, match="did not finish"):
        review(run.share)


def test_without_the_originals_the_page_says_so(tmp_path: Path) -> None:
    run = build_run(tmp_path, use_shared=False)
    run.images.rename(tmp_path / "moved")
    document = review(run.share).path.read_text(encoding="utf-8")
    assert "the original image folder is not known or not there" in text_of(document)
    document = review(run.share, images=tmp_path / "moved").path.read_text(encoding="utf-8")
    assert "not known or not there" not in document


def test_cli_review_prints_where_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = build_run(tmp_path, use_shared=False)
    assert main(["review", str(run.share), "--floor", "0.065"]) == 0
    out = capsys.readouterr().out
    assert f"review: {tmp_path / 'share.review' / 'index.html'}" in out and "do not share it" in out
    document = (tmp_path / "share.review" / "index.html").read_text(encoding="utf-8")
    assert "site B/low.jpg" in document and html.escape(XSS_NAME) not in document.split('id="problems"')[0]
    assert main(["review", str(tmp_path / "nowhere")]) == 2


def test_thumbnails_are_upright_small_and_made_with_reduced_decoding(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(make_camera_jpeg(4032, 3024, seed=5, orientation=6))  # shown rotated: 3024 x 4032
    data = thumbnail(big)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (240, 320)
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((100, 300), 128, np.uint8))
    assert Image.open(io.BytesIO(thumbnail(grey))).size == (300, 100)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        thumbnail(tmp_path / "empty.jpg")
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(ImageError, match="not a JPEG"):
        thumbnail(tmp_path / "text.jpg")


def test_histogram_marks_threshold_and_floor_where_they_are() -> None:
    svg = histogram_svg([0.01, 0.02, 0.5, 0.51, 0.99, 1.0], threshold=0.5, floor=0.05)
    assert svg.count('<rect class="bar"') == 4  # bins 0.00-0.02, 0.02-0.04, 0.50-0.52, 0.98-1.00
    x = float(re.search(r'<line class="threshold" x1="([\d.]+)"', svg).group(1))
    assert x == pytest.approx(44 + (640 - 44 - 10) * 0.5)
    assert "6 person detections" in svg
