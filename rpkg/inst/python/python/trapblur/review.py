"""``trapblur review``: an offline HTML page to check a finished run before sharing it.

``review(SHARE)`` writes ``SHARE.review/index.html`` (beside the shareable folder, never inside it) and,
for long runs, further pages. It shows, in this order:

1. a summary: counts by action, settings, model, threshold, when the run finished and how long it took, and
   a histogram of person confidences with the threshold marked;
2. "Check these first": shared images with a person detection between a review *floor* (default: the
   model's conservative threshold, else 0.05) and the blur threshold, so not blurred; shown from the
   original with the boxes drawn, closest to the threshold first;
3. withheld and failed images, with their reasons;
4. blurred images, per folder: the blurred output, with the original on demand.

Each card of a shared image offers corrections (draw a box, blur the whole image, withhold, accept);
"Save corrections" downloads a ``corrections.csv`` for ``trapblur blur --corrections``.

Limits, so that a run of a million images gives pages that open in seconds: each page holds at most
``page_size`` cards per section (default 100), and each section shows at most ``max_cards`` images (default
5,000; "check these first" keeps those closest to the threshold); the page says how many it left out.
Thumbnails are decoded at reduced size (JPEG DCT scaling), a few threads at a time.

The run's own files are read: ``.trapblur/run.json`` (settings, input folder, timing), the report CSV and
the MegaDetector file written for the shareable folder (read one image entry at a time).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import posixpath
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, Union

import cv2
import numpy as np
from PIL import Image

from .atomic import write_text_atomically
from .codecs import sniff_format
from .errors import ImageError, OptionsError, OutputFolderError, ResultsFormatError
from .pipeline import REPORT_NAME, RESULTS_NAME, STATE_FOLDER
from .report import ACTIONS, ImageResult, read_report
from .results import Detection, ImageEntry, read_results, results_from_dict
from .review_html import Box, Card, PageContext, Section, Summary, page_name, render_page, render_section, render_summary

log = logging.getLogger(__name__)
PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_FLOOR = 0.05
DEFAULT_PAGE_SIZE = 100
DEFAULT_MAX_CARDS = 5000
THUMBNAIL_SIDE = 320
THUMBNAIL_QUALITY = 72
_PAGE_FILE = re.compile(r"^(index|check-\d+|problems-\d+|blurred-\d+)\.html$")
SECTION_KEYS = ("check", "problems", "blurred")


@dataclass(frozen=True)
class ReviewPage:
    """What :func:`review` wrote."""

    path: Path  # the index page
    folder: Path
    pages: tuple[Path, ...]
    sections: Mapping[str, tuple[int, int]]  # key -> (images in the section, images shown)
    thumbnails: int
    elapsed_s: float


@dataclass
class RunRecord:
    """What a finished run left in its output folder, as far as the review needs it."""

    share: Path
    images: Path | None
    state: dict[str, Any]
    info: dict[str, Any]
    thresholds: dict[str, float]
    counts: dict[str, int] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------------
# The public entry point


def review_folder_for(share: PathLike) -> Path:
    """Where the review of ``share`` goes: ``<share>.review`` beside it."""
    share = Path(share).resolve()
    return share.parent / f"{share.name}.review"


def review(
    share: PathLike,
    *,
    images: PathLike | None = None,
    output: PathLike | None = None,
    floor: float | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    max_cards: int = DEFAULT_MAX_CARDS,
    workers: int | None = None,
) -> ReviewPage:
    """Write the review pages of the finished run in the shareable folder ``share``; return where.

    ``images`` is the original image folder (default: the one the run recorded). ``output`` is the
    review folder (default ``<share>.review`` beside ``share``; it may not be inside ``share`` or the image
    folder). ``floor`` is the lowest person confidence shown in "Check these first" (default: the model's
    conservative threshold from the results, else 0.05).
    """
    started = time.perf_counter()
    _check_count("page_size", page_size)
    _check_count("max_cards", max_cards)
    run = load_run(Path(share), None if images is None else Path(images))
    folder = _check_review_folder(Path(output) if output is not None else review_folder_for(run.share), run)
    floor = _floor(floor, run.info)
    person_threshold = run.thresholds.get("person")
    plan = plan_review(run, floor, max_cards)
    folder.mkdir(parents=True, exist_ok=True)

    sections = [
        Section("check", "Check these first",
                f"Shared images with a person detection between the review floor ({floor:g}) and the blur "
                f"threshold ({_threshold_text(person_threshold)}): these people were NOT blurred. Shown from "
                "the original, red dashed boxes not blurred, blue boxes blurred. Look for people and mark "
                "what must not be shared.",
                plan.totals["check"], len(plan.cards["check"]), _pages(len(plan.cards["check"]), page_size)),
        Section("problems", "Withheld and failed images",
                "Not in the shareable folder, with the reason. Corrections cannot release them: fix the cause "
                "(results, file) and run again.",
                plan.totals["problems"], len(plan.cards["problems"]), _pages(len(plan.cards["problems"]), page_size)),
        Section("blurred", "Blurred images, per folder",
                "As shared (blurred). \u201cShow original\u201d shows the image before blurring; blue boxes are the "
                "detections that were blurred.",
                plan.totals["blurred"], len(plan.cards["blurred"]), _pages(len(plan.cards["blurred"]), page_size)),
    ]
    context = PageContext(run_id=_run_id(run), sections=sections, share=str(run.share))
    summary = build_summary(run, folder, plan, floor, page_size, max_cards)
    thumbnails = 0
    written: list[Path] = []
    pages_total = max([s.pages for s in sections] + [1])
    with ThreadPoolExecutor(max_workers=workers or max(1, min(4, os.cpu_count() or 1)),
                            thread_name_prefix="trapblur-review") as pool:
        for number in range(1, pages_total + 1):
            body = [render_summary(summary)] if number == 1 else []
            for section in sections:
                if number == 1 or number <= section.pages:
                    todo = plan.cards[section.key][(number - 1) * page_size: number * page_size]
                    cards = list(pool.map(lambda c: make_card(c, run), todo))
                    thumbnails += sum((c.image is not None) + (c.before is not None) for c in cards)
                    folder_of = {c.file: posixpath.dirname(c.file) for c in cards} if section.key == "blurred" else None
                    body.append(render_section(section, number, cards, (number - 1) * page_size, folder_of))
            if number == 1:
                path = folder / "index.html"
                write_text_atomically(path, render_page(context, f"Review: {run.share.name}", body))
                written.append(path)
            else:
                # Pages after the first hold one section each, so links go straight to them.
                for section, part in zip([s for s in sections if number <= s.pages], body):
                    path = folder / page_name(section.key, number)
                    write_text_atomically(path, render_page(context, f"Review: {run.share.name} ({section.title}, page {number})", [part]))
                    written.append(path)
    _remove_stale_pages(folder, written)
    elapsed = time.perf_counter() - started
    log.info("review of %s: %d pages, %d thumbnails in %.1f s", run.share, len(written), thumbnails, elapsed)
    return ReviewPage(
        path=folder / "index.html", folder=folder, pages=tuple(written),
        sections={s.key: (s.total, s.shown) for s in sections}, thumbnails=thumbnails, elapsed_s=elapsed,
    )


def _check_count(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionsError(f"{name} must be a whole number of at least 1, not {value!r}")


def _pages(cards: int, page_size: int) -> int:
    return math.ceil(cards / page_size)


def _threshold_text(threshold: float | None) -> str:
    return "none: people are not blurred in this run" if threshold is None else f"{threshold:g}"


def _run_id(run: RunRecord) -> str:
    text = f"{run.share}|{run.state.get('finished', '')}|{run.state.get('started', '')}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _remove_stale_pages(folder: Path, keep: Sequence[Path]) -> None:
    kept = {p.name for p in keep}
    for path in folder.iterdir():
        if _PAGE_FILE.match(path.name) and path.name not in kept:
            path.unlink()


# ----------------------------------------------------------------------------------------------------------
# Reading the run


def load_run(share: Path, images: Path | None = None) -> RunRecord:
    """The run's state, settings and counts. Raises :class:`OutputFolderError` when it is not a finished run."""
    if not share.is_dir():
        raise OutputFolderError(f"{share}: no such folder (give the shareable folder a run wrote)")
    share = share.resolve()
    state_file = share / STATE_FOLDER / "run.json"
    report_file = share / REPORT_NAME
    if not state_file.is_file() or not report_file.is_file():
        raise OutputFolderError(f"{share}: not a folder written by trapblur blur/run (no {STATE_FOLDER}/run.json "
                                f"or {REPORT_NAME})")
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OutputFolderError(f"{state_file}: unreadable ({exc})") from None
    if not state.get("complete"):
        raise OutputFolderError(f"{share}: the run did not finish; run the same trapblur command again first")
    options = state.get("fingerprint", {}).get("options", {})
    thresholds = {str(k): float(v) for k, v in (options.get("thresholds") or {}).items()}
    info = _results_head(share / RESULTS_NAME).get("info", {})
    recorded = state.get("images") or info.get("trapblur", {}).get("images")
    folder = images if images is not None else (Path(recorded) if recorded else None)
    if folder is not None and not folder.is_dir():
        log.warning("the image folder %s is not there: originals cannot be shown", folder)
    return RunRecord(share=share, images=folder.resolve() if folder is not None and folder.is_dir() else None,
                     state=state, info=info, thresholds=thresholds)


def _results_head(path: Path) -> dict[str, Any]:
    """The top of the run's results file (info, categories) without reading its images."""
    if not path.is_file():
        return {}
    lines = []
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            if line.rstrip("\n") == ' "images": [':
                try:
                    return json.loads("".join(lines) + ' "images": []}')
                except ValueError:
                    break
            lines.append(line)
            if len(lines) > 10_000:
                break
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return {k: v for k, v in document.items() if k != "images"}
    except ValueError:
        return {}


def iter_output_entries(path: Path) -> Iterator[ImageEntry]:
    """The image entries of a results file the run wrote, one at a time (one per line, as written);
    any other layout is read whole."""
    head = _results_head(path)
    categories = head.get("detection_categories")
    if not isinstance(categories, dict):
        return iter(())
    return _entries(path, head)


def _entries(path: Path, head: dict[str, Any]) -> Iterator[ImageEntry]:
    streamed = True
    with path.open(encoding="utf-8") as stream:
        in_images = False
        for line in stream:
            text = line.strip()
            if not in_images:
                in_images = text == '"images": ['
                continue
            if text in ("]", "]}", ""):
                continue
            if text == "}":
                break
            try:
                raw = json.loads(text.rstrip(","))
                yield results_from_dict({**head, "images": [raw]}, source=str(path)).images[0]
            except (ValueError, ResultsFormatError):
                streamed = False
                break
    if not streamed:
        yield from read_results(path).images


@dataclass
class ReviewPlan:
    """Which images go in which section (cards without thumbnails yet), and the numbers for the summary."""

    cards: dict[str, list[Card]]
    totals: dict[str, int]
    person_confs: list[float]


def plan_review(run: RunRecord, floor: float, max_cards: int) -> ReviewPlan:
    """Sort the run's images into the sections, reading its report and results once each."""
    person_threshold = run.thresholds.get("person")
    candidates: dict[str, tuple[float, tuple[Box, ...]]] = {}
    drawn: dict[str, tuple[Box, ...]] = {}
    person_confs: list[float] = []
    for entry in iter_output_entries(run.share / RESULTS_NAME):
        detections = entry.detections or ()
        person_confs.extend(d.conf for d in detections if d.category == "person")
        boxes = tuple(_box(d, run.thresholds) for d in detections
                      if d.category in run.thresholds or (d.category == "person" and d.conf >= floor))
        low = [d.conf for d in detections if d.category == "person" and d.conf >= floor
               and (person_threshold is None or d.conf < person_threshold)]
        if low:
            candidates[entry.file] = (max(low), boxes)
        elif any(b.kind == "blurred" for b in boxes):
            drawn[entry.file] = boxes

    counts = dict.fromkeys(ACTIONS, 0)
    check: list[tuple[float, Card]] = []
    problems: list[Card] = []
    blurred: list[Card] = []
    totals = dict.fromkeys(SECTION_KEYS, 0)
    for row in read_report(run.share / REPORT_NAME):
        counts[row.action] = counts.get(row.action, 0) + 1
        if row.written and row.output in candidates:
            conf, boxes = candidates[row.output]
            totals["check"] += 1
            check.append((conf, _card(row, boxes, "check", conf, person_threshold)))
        elif row.action in ("withheld", "failed"):
            totals["problems"] += 1
            if len(problems) < max_cards:
                problems.append(_card(row, (), "problems", None, person_threshold))
        elif row.action == "blurred":
            totals["blurred"] += 1
            if len(blurred) < max_cards:
                blurred.append(_card(row, drawn.get(row.output, ()), "blurred", None, person_threshold))
    run.counts = counts
    check.sort(key=lambda item: (-item[0], item[1].file))
    blurred.sort(key=lambda c: (posixpath.dirname(c.file), c.file))
    return ReviewPlan(cards={"check": [c for _, c in check[:max_cards]], "problems": problems, "blurred": blurred},
                      totals=totals, person_confs=person_confs)


def _box(detection: Detection, thresholds: Mapping[str, float]) -> Box:
    threshold = thresholds.get(detection.category)
    blurred = threshold is not None and detection.conf >= threshold
    if detection.conf >= 1.0 and blurred:
        label = f"{detection.category} (blurred)"
    else:
        label = f"{detection.category} {detection.conf:.2f}" + (" blurred" if blurred else " NOT blurred")
    kind = "blurred" if blurred else ("candidate" if detection.category == "person" else "other")
    return Box(detection.bbox, label, kind)


def _card(row: ImageResult, boxes: tuple[Box, ...], section: str, conf: float | None,
          person_threshold: float | None) -> Card:
    lines = [f"action: {row.action}" + (f" ({row.regions} regions)" if row.regions else "")]
    if conf is not None:
        lines.append(f"person {conf:.3f}, below the blur threshold {_threshold_text(person_threshold)}")
    elif row.max_person_conf is not None:
        lines.append(f"highest person confidence {row.max_person_conf:.3f}")
    if row.reason:
        lines.append(f"reason: {row.reason}" if section == "problems" else f"note: {row.reason}")
    if row.correction:
        lines.append(f"reviewer's correction: {row.correction}")
    return Card(file=row.input, action=row.action, lines=tuple(lines), boxes=boxes, actions=section != "problems")


# ----------------------------------------------------------------------------------------------------------
# Thumbnails (I/O)


def make_card(card: Card, run: RunRecord) -> Card:
    """``card`` with its thumbnails: the original for checks and problems, output and original for blurred."""
    original, problem = _thumbnail_of(run.images, card.file, "image folder")
    if card.action == "blurred":
        after, after_problem = _thumbnail_of(run.share, card.file, "shareable folder")
        if after is None:
            return replace(card, missing=f"no preview: {after_problem}")
        return replace(card, image=after, before=original)
    if original is None:
        return replace(card, missing=f"no preview: {problem}")
    return replace(card, image=original)


def _thumbnail_of(root: Path | None, relative: str, what: str) -> tuple[bytes | None, str]:
    if root is None:
        return None, "the original image folder is not known or not there (give images=FOLDER)"
    path = root / relative
    try:
        if not path.resolve().is_relative_to(root.resolve()):
            return None, f"not read: it leads outside the {what}"
        return thumbnail(path), ""
    except ImageError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"cannot read {relative} ({exc.strerror or exc})"


def thumbnail(path: Path, side: int = THUMBNAIL_SIDE, quality: int = THUMBNAIL_QUALITY) -> bytes:
    """A JPEG thumbnail of the *upright* image (EXIF orientation applied, as boxes are measured).

    JPEGs are decoded at 1/2, 1/4 or 1/8 size by the decoder itself (DCT scaling), so a 12-megapixel
    photograph costs a fraction of a full decode.
    """
    data = path.read_bytes()
    if not data:
        raise ImageError("empty file (0 bytes)")
    kind = sniff_format(data[:16])
    if kind is None:
        raise ImageError("not a JPEG, PNG or TIFF image")
    flags = cv2.IMREAD_COLOR
    if kind == "JPEG":
        flags = _reduced_flag(_jpeg_size(data), side)
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if pixels is None:
        raise ImageError(f"cannot decode the {kind} data")
    height, width = pixels.shape[:2]
    scale = side / max(width, height)
    if scale < 1:
        pixels = cv2.resize(pixels, (max(1, round(width * scale)), max(1, round(height * scale))),
                            interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageError("cannot encode the thumbnail")
    return encoded.tobytes()


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as header:
            return header.size
    except Exception:  # noqa: BLE001 - a broken header: decode at full size and let OpenCV say what is wrong
        return None


def _reduced_flag(size: tuple[int, int] | None, side: int) -> int:
    if size is None:
        return cv2.IMREAD_COLOR
    longest = max(size)
    for factor, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                         (2, cv2.IMREAD_REDUCED_COLOR_2)):
        if longest / factor >= side:
            return flag
    return cv2.IMREAD_COLOR


# ----------------------------------------------------------------------------------------------------------
# Summary


def build_summary(run: RunRecord, folder: Path, plan: ReviewPlan, floor: float, page_size: int,
                  max_cards: int) -> Summary:
    state, info = run.state, run.info
    fingerprint = state.get("fingerprint", {})
    options = fingerprint.get("options", {})
    thresholds = ", ".join(f"{k} {v:g}" for k, v in sorted(run.thresholds.items())) or "?"
    settings = [
        ("blur threshold", thresholds),
        ("review floor", f"{floor:g}"),
        ("strength", f"{options.get('strength', '?')}"),
        ("padding", f"{options.get('padding', '?')}"),
        ("method / shape", f"{options.get('method', '?')} / {options.get('shape', '?')}"),
        ("JPEG mode", str(fingerprint.get("jpeg_mode", "?"))),
        ("copy unlisted images", "yes" if fingerprint.get("copy_unlisted") else "no"),
    ]
    corrections = state.get("corrections")
    if corrections:
        settings.append(("corrections", f"{corrections.get('file')} (sha256 {str(corrections.get('sha256'))[:12]}, "
                                        f"{corrections.get('images')} images)"))
    meta = info.get("detector_metadata") or {}
    model = [("detector", str(info.get("detector") or "not recorded"))]
    for key, name in (("megadetector_version", "version"), ("model_name", "model"),
                      ("typical_detection_threshold", "typical threshold"),
                      ("conservative_detection_threshold", "conservative threshold")):
        if key in meta:
            model.append((name, str(meta[key])))
    if info.get("detection_completion_time"):
        model.append(("detections made", str(info["detection_completion_time"])))
    elapsed = state.get("elapsed_s")
    run_rows = [
        ("finished", str(state.get("finished", "not recorded"))),
        ("took", f"{elapsed:.1f} s ({state.get('processed', '?')} images processed)" if isinstance(elapsed, (int, float)) else "not recorded"),
        ("image folder", str(run.images or state.get("images") or "not recorded")),
        ("results file", str(state.get("results_file") or info.get("trapblur", {}).get("source") or "not recorded")),
        ("trapblur", str(state.get("trapblur_version", "?"))),
    ]
    limits = (f"Limits: each page shows at most {page_size} images per section, and each section at most "
              f"{max_cards:,} in all (\u201ccheck these first\u201d keeps those closest to the threshold); the "
              "full list is in the report CSV. Further pages are linked in the bar at the top. "
              "Copied images without a person detection above the floor are not shown.")
    return Summary(
        share=str(run.share), review_folder=str(folder), counts=run.counts, settings=settings, model=model,
        run=run_rows, person_confs=plan.person_confs, threshold=run.thresholds.get("person"), floor=floor,
        limits=limits, command=_command(run, folder),
    )


def _command(run: RunRecord, folder: Path) -> str:
    results = run.state.get("results_file") or "MD_RESULTS.json"
    images = run.images or run.state.get("images") or "IMAGES"
    return (f'trapblur blur "{images}" --results "{results}" --out "{run.share}" '
            f'--corrections "{folder / "corrections.csv"}"   (with the same options as the first run)')


def _floor(floor: float | None, info: Mapping[str, Any]) -> float:
    if floor is None:
        value = (info.get("detector_metadata") or {}).get("conservative_detection_threshold")
        floor = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else DEFAULT_FLOOR
    if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0 <= floor <= 1:
        raise OptionsError(f"floor must be a number between 0 and 1, not {floor!r}")
    return float(floor)


def _check_review_folder(folder: Path, run: RunRecord) -> Path:
    folder = folder.resolve()
    if folder == run.share or folder.is_relative_to(run.share):
        raise OutputFolderError(f"{folder}: the review must not be written inside the shareable folder {run.share} "
                                "(it shows the unblurred originals)")
    if run.images is not None and (folder == run.images or folder.is_relative_to(run.images)):
        raise OutputFolderError(f"{folder}: the review must not be written inside the image folder {run.images}")
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"{folder}: exists and is not a folder")
    return folder


__all__ = ["ReviewPage", "review", "review_folder_for", "thumbnail"]
