"""The batch: walk the image folder, decide per image (copy / blur / withhold), write the shareable copy.

Guarantees
----------
* **Fail closed.** Only two things are ever written: an image whose selected detections were all hidden,
  and an image the results say has nothing to hide, copied byte for byte. Anything else (not in the
  results, detector failure, unreadable, unsupported, any error) is withheld and reported with its reason,
  and any stale output of it from an earlier run is deleted.
* **The input is never written to.** The output folder may not be, contain, or sit inside the image folder.
* **Atomic and resumable.** Each file is written to a temporary name and renamed. Finished images are
  journalled in ``.trapblur/journal.csv`` as they complete; a re-run with the same settings and results
  skips them, a re-run with different ones refuses to mix the two (``overwrite=True`` redoes everything).
  A reviewer's corrections file (:mod:`.corrections`) is not part of those settings: a re-run with a new
  or changed one redoes just the images whose corrections changed.
* **Streaming.** Images are decoded a few at a time in a thread pool (the codecs release the GIL); rows
  are written as they complete, in folder order, so memory does not grow with the number of images.
* **Or on a cluster.** Given a Dask client, the same per-image calls run on its workers, many images per
  task (:mod:`trapblur.cluster`); this module still records every row, in folder order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, Union

from threadpoolctl import threadpool_limits

from ._version import __version__
from .atomic import copy_atomically, link_atomically, remove_partial_files, write_bytes_atomically, write_text_atomically
from .codecs import inspect_image, sniff_format
from .categories import check_defined
from .corrections import AppliedCorrections, apply_to_files, match_corrections, read_corrections
from .dataset import Dataset, ImageFile, build_dataset, check_listing
from .errors import ImageError, OptionsError, OutputFolderError, TaskFailed
from .frames import FRAME_RULES_VERSION, UNKNOWN_SOURCE, BoxSource, box_frames, identify_box_source
from .options import DEFAULT_THRESHOLD, BlurOptions, ThresholdArg
from .regions import regions_to_hide, select_detections
from .report import MALFORMED_ENTRY, ImageResult, ReportWriter, RunReport, read_report
from .results import ImageEntry, Results, ResultsWriter, category_ids, read_results
from .single import check_jpeg_mode, hide_and_encode

log = logging.getLogger(__name__)

STATE_FOLDER = ".trapblur"
REPORT_NAME = "trapblur_report.csv"
RESULTS_NAME = "trapblur_results.json"
Progress = Callable[[int, int], None]
PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class RunSettings:
    """How the batch runs (as opposed to what it does to pixels, which is :class:`BlurOptions`)."""

    copy_unlisted: bool = False
    link_unchanged: bool = False
    overwrite: bool = False
    workers: int | None = None
    jpeg_mode: str = "lossless"

    def __post_init__(self) -> None:
        check_jpeg_mode(self.jpeg_mode)
        if self.workers is not None and (
            isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1
        ):
            raise OptionsError(f"workers must be a whole number of at least 1, not {self.workers!r}")


def blur_dataset(
    images: PathLike,
    results: PathLike | Results,
    output: PathLike,
    *,
    threshold: ThresholdArg = DEFAULT_THRESHOLD,
    strength: float = 1.0,
    categories: Sequence[str] = ("person",),
    padding: float = 0.1,
    shape: str = "rectangle",
    method: str = "gaussian",
    copy_unlisted: bool = False,
    link_unchanged: bool = False,
    overwrite: bool = False,
    workers: int | None = None,
    jpeg_mode: str = "lossless",
    corrections: PathLike | None = None,
    progress: Progress | None = None,
    client: Any = None,
) -> RunReport:
    """Write a shareable copy of the image folder ``images`` to ``output`` with every person blurred.

    ``results`` is a MegaDetector batch-output file (any version) or a :class:`Results`. See
    :class:`BlurOptions` for ``threshold``, ``strength``, ``categories``, ``padding``, ``shape`` and
    ``method``. ``copy_unlisted`` copies images the results do not mention (by default they are withheld:
    nobody checked them for people). ``link_unchanged`` hard-links images with nothing to hide instead of
    copying them. ``overwrite`` redoes images an earlier run finished. ``jpeg_mode="lossless"`` (default)
    edits only the JPEG blocks a blurred region touches, so the rest of the photograph keeps its exact image
    data (the blurred area rounds out to whole 8 or 16 px blocks); files that cannot be edited that way
    (arithmetic-coded, CMYK, ...) are re-encoded. ``"reencode"`` decodes and re-encodes each blurred JPEG
    with the source's own tables and subsampling. The report's ``encoding`` column says which path each
    image took.
    ``corrections`` is a reviewer's corrections CSV (what ``trapblur review``'s page saves; see
    :mod:`trapblur.corrections`): boxes to blur whatever the threshold, whole images to blur, images to
    withhold. The report's ``correction`` column says what it did to each image; rows that name no image of
    the folder are listed in ``report.correction_problems``.
    ``progress(done, total)`` is called from the calling thread after each image.
    ``client`` (a ``distributed.Client`` or a :class:`trapblur.cluster.Cluster`) runs the images on that Dask
    cluster's workers instead of local threads (``pip install "trapblur[distributed]"``); the folders must be
    on storage every worker sees at the same paths. The output is the same as a local run's, byte for byte.

    Returns a :class:`RunReport`; ``report.ok`` is False when any image was withheld or failed.
    """
    options = BlurOptions(
        threshold=threshold, strength=strength, categories=tuple(categories) if not isinstance(categories, str) else categories,
        padding=padding, shape=shape, method=method,
    )
    settings = RunSettings(copy_unlisted, link_unchanged, overwrite, workers, jpeg_mode)
    return run_batch(Path(images), results, Path(output), options, settings, progress,
                     corrections=None if corrections is None else Path(corrections), client=client)


def run_batch(
    images: Path,
    results: PathLike | Results,
    output: Path,
    options: BlurOptions,
    settings: RunSettings,
    progress: Progress | None = None,
    corrections: Path | None = None,
    client: Any = None,
) -> RunReport:
    """:func:`blur_dataset` with its options already checked."""
    started = time.perf_counter()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    images_root, output_root = check_folders(images, output)
    results = results if isinstance(results, Results) else read_results(results)
    source = str(results.source or "the results")
    check_defined(options.categories, results.declared_categories, source)
    dataset = build_dataset(images_root, results)
    warnings = check_listing(dataset, images_root, source, settings.copy_unlisted)
    for warning in warnings:  # the report carries them to the summary and to R's warnings
        log.info("warning: %s", warning)
    applied = None
    if corrections is not None:
        applied = match_corrections(read_corrections(corrections), (f.relative for f in dataset.files))
        dataset = dataclasses.replace(
            dataset, files=apply_to_files(dataset.files, applied, reviewer_category(options), settings.copy_unlisted)
        )
    corrected = applied.descriptions() if applied else {}
    fingerprint = {"options": options.describe(), "copy_unlisted": settings.copy_unlisted,
                   "jpeg_mode": settings.jpeg_mode, "results": results_fingerprint(results),
                   "box_frame_rules": FRAME_RULES_VERSION}
    state = output_root / STATE_FOLDER
    finished = prepare_output(output_root, state, fingerprint, settings.overwrite)
    # Corrections are not in the fingerprint: an image finished under other corrections is redone.
    finished = {name: r for name, r in finished.items() if r.correction == corrected.get(name, "")}
    run_info = _run_info(images_root, results, applied)
    _write_state(state, fingerprint, complete=False, run_info=run_info)

    report = RunReport(
        output=str(output_root),
        report_csv=str(output_root / REPORT_NAME),
        results_json=str(output_root / RESULTS_NAME),
        total=len(dataset.files),
        warnings=warnings,
        matched_by_trailing_part=dataset.matched_by_trailing_part,
        trailing_part_prefixes=dict(dataset.trailing_part_prefixes),
        correction_problems=applied.problem_lines() if applied else [],
    )
    for line in report.correction_problems:
        log.warning("correction not applied: %s", line)
    journal_path = state / "journal.csv"
    writer = ResultsWriter(
        Path(report.results_json),
        {**results.info, "trapblur": {"version": __version__, **fingerprint, "source": str(results.source or "")}},
        category_ids(results.category_names),
        results.classification_categories,
    )
    completed = False
    try:
        with ReportWriter(journal_path) as journal:

            def record(result: ImageResult, file: ImageFile | None) -> None:
                if file is not None and result.correction != corrected.get(file.relative, ""):
                    result = dataclasses.replace(result, correction=corrected[file.relative])
                journal.write(result)
                report.add(result)
                if file is not None and result.written:
                    writer.add(_output_entry(file, result))

            _process_all(dataset, options, settings, output_root, finished, report, record, progress,
                         identify_box_source(results.info), client)
            for unmatched in dataset.unmatched:
                record(ImageResult(unmatched.label, "", unmatched.action, reason=unmatched.reason), None)
        completed = True
    finally:
        if completed:
            writer.close()
            os.replace(journal_path, report.report_csv)
            elapsed = time.perf_counter() - started
            _write_state(state, fingerprint, complete=True, run_info={
                **run_info, "started": started_at, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "elapsed_s": round(elapsed, 3), "processed": report.processed})
        else:
            writer.discard()
    report.elapsed_s = time.perf_counter() - started
    log.info("finished: %s", report.summary().splitlines()[0])
    return report


def _process_all(
    dataset: Dataset,
    options: BlurOptions,
    settings: RunSettings,
    output_root: Path,
    finished: Mapping[str, ImageResult],
    report: RunReport,
    record: Callable[[ImageResult, ImageFile | None], None],
    progress: Progress | None,
    box_source: BoxSource = UNKNOWN_SOURCE,
    client: Any = None,
) -> None:
    """Process every file in a bounded thread pool (or on a Dask cluster), recording results in folder order.

    The batch parallelises over images, so for its duration the BLAS libraries numpy and OpenCV carry
    (OpenBLAS, used by the block-wise JPEG path) are held to one thread each, as joblib does for its
    workers: left alone, their own spinning threads fought the workers and 2 workers ran no faster than 1.
    """
    pending: deque[tuple[ImageFile, Future[ImageResult] | ImageResult]] = deque()
    done = 0

    def emit_oldest() -> None:
        nonlocal done
        file, outcome = pending.popleft()
        try:
            result = outcome if isinstance(outcome, ImageResult) else outcome.result()
        except TaskFailed as exc:  # only on a cluster: the task holding this image could not run
            result = _task_failed(file, output_root, str(exc))
        record(result, file)
        done += 1
        if progress is not None:
            progress(done, len(dataset.files))

    with _image_pool(settings.workers, client, output_root) as (pool, window):
        try:
            for file in dataset.files:
                earlier = finished.get(file.relative)
                if earlier is not None and (output_root / earlier.output).is_file():
                    pending.append((file, earlier))
                else:
                    report.processed += 1
                    pending.append((file, pool.submit(process_image, file, options, settings, output_root, box_source)))
                while len(pending) >= window:
                    emit_oldest()
            while pending:
                emit_oldest()
        except BaseException:
            for _, outcome in pending:
                if isinstance(outcome, Future):
                    outcome.cancel()
            raise


@contextmanager
def _image_pool(workers: int | None, client: Any, output_root: Path) -> Iterator[tuple[Any, int]]:
    """Where :func:`process_image` calls run, and how many images may be pending: a local thread pool, or
    the workers of a Dask cluster (:class:`trapblur.cluster.pool.DaskImagePool`, imported only then)."""
    if client is not None:
        from .cluster.pool import DaskImagePool

        with DaskImagePool(client, output_root) as cluster_pool:
            yield cluster_pool, cluster_pool.window
        return
    workers = workers or max(1, os.cpu_count() or 1)
    with threadpool_limits(limits=1, user_api="blas"), \
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trapblur") as pool:
        yield pool, 4 * workers


def _task_failed(file: ImageFile, output_root: Path, reason: str) -> ImageResult:
    """The row of an image whose cluster task could not run; nothing of it may stay in the output."""
    entry = file.entry
    person_conf = entry.max_conf("person") if entry and entry.processed else None
    return _not_written(ImageResult(input=file.relative, output="", action="failed", max_person_conf=person_conf,
                                    reason=reason), output_root / file.relative)


def process_image(file: ImageFile, options: BlurOptions, settings: RunSettings, output_root: Path,
                  box_source: BoxSource = UNKNOWN_SOURCE) -> ImageResult:
    """Decide what to do with one file and do it. Never raises: problems become withheld/failed rows.

    ``box_source`` (the tool that made the boxes) decides, with the file's orientation evidence, which
    frame the boxes are in (:mod:`.frames`); when that is ambiguous every candidate place is hidden.
    """
    destination = output_root / file.relative
    entry = file.entry
    person_conf = entry.max_conf("person") if entry and entry.processed else None
    base = ImageResult(input=file.relative, output="", action="withheld", max_person_conf=person_conf)
    try:
        if entry is not None and entry.problem:
            reason = f"{MALFORMED_ENTRY}: {entry.problem}"
            return _not_written(dataclasses.replace(base, action="failed", reason=reason), destination)
        decision = _decide(file, settings)
        if isinstance(decision, str):
            action = "ignored" if file.kind == "other" else "withheld"
            return _not_written(dataclasses.replace(base, action=action, reason=decision), destination)
        selected = select_detections(decision, options)
        if not selected:
            encoding = _copy_unchanged(file.path, destination, settings.link_unchanged)
            reason = "" if entry else "not in the results; copied because copy_unlisted is on"
            return dataclasses.replace(base, output=file.relative, action="copied", encoding=encoding, reason=reason)
        data = file.path.read_bytes()
        source = inspect_image(data)
        frames = box_frames(box_source, source.evidence, source.format, source.colour_components)
        regions = regions_to_hide(selected, options, source.width, source.height, frames.orientations)
        encoded, encoding = hide_and_encode(source, regions, options.method, settings.jpeg_mode)
        write_bytes_atomically(destination, encoded.data)
        _copy_times(file.path, destination)
        return dataclasses.replace(
            base, output=file.relative, action="blurred", regions=len(regions), encoding=encoding,
            reason="; ".join((frames.note,) * frames.ambiguous + encoded.notes),
        )
    except ImageError as exc:
        return _not_written(dataclasses.replace(base, action="failed", reason=str(exc)), destination)
    except OSError as exc:
        reason = f"cannot read or write the file ({exc.strerror or exc})"
        return _not_written(dataclasses.replace(base, action="failed", reason=reason), destination)
    except Exception as exc:  # a bug must not stop the batch nor let the image through
        log.exception("internal error on %s", file.path)
        reason = f"internal error ({type(exc).__name__}: {exc})"
        return _not_written(dataclasses.replace(base, action="failed", reason=reason), destination)


def _decide(file: ImageFile, settings: RunSettings) -> str | tuple:
    """The detections to consider, or the reason the file is not written."""
    if file.problem:
        return file.problem
    kind = file.kind
    if kind == "other":
        return "not an image"
    if kind == "video":
        return "videos are not supported yet: not written"
    if kind == "unsupported image":
        return f"unsupported image format ({Path(file.relative).suffix}): not written"
    entry = file.entry
    if entry is None:
        if settings.copy_unlisted:
            return ()
        return "not in the results file, so not known to be person-free (copy_unlisted / --copy-unlisted copies such images)"
    if not entry.processed:
        return f"the detector could not process it ({entry.failure})"
    return entry.detections or ()


def _copy_unchanged(source: Path, destination: Path, link: bool) -> str:
    with source.open("rb") as stream:
        head = stream.read(16)
    if not head:
        raise ImageError("empty file (0 bytes)")
    if sniff_format(head) is None:
        raise ImageError("not a JPEG, PNG or TIFF image (unrecognised file signature)")
    if link:
        try:
            link_atomically(source, destination)
            return "link"
        except OSError:
            pass  # another disk, or a file system without hard links: copy instead
    copy_atomically(source, destination)
    return "copy"


def _copy_times(source: Path, destination: Path) -> None:
    stat = source.stat()
    os.utime(destination, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _not_written(result: ImageResult, destination: Path) -> ImageResult:
    # An output left by an earlier run (other settings, other results) must not survive a withhold.
    if destination.is_file() or destination.is_symlink():
        destination.unlink()
    return result


def _output_entry(file: ImageFile, result: ImageResult) -> ImageEntry:
    if file.entry is None:
        return ImageEntry(file=result.output, detections=None, failure="not in the original results")
    return dataclasses.replace(file.entry, file=result.output)


# ----------------------------------------------------------------------------------------------------------
# Folders and the run's state


def check_folders(images: Path, output: Path) -> tuple[Path, Path]:
    """Resolved image and output folders; refuses overlapping ones."""
    if not images.exists():
        raise OutputFolderError(f"{images}: image folder not found")
    if not images.is_dir():
        raise OutputFolderError(f"{images}: is a file, not a folder of images")
    images_root, output_root = images.resolve(), output.resolve()
    if output_root == images_root:
        raise OutputFolderError(f"{output}: the output folder must not be the image folder")
    if output_root.is_relative_to(images_root):
        raise OutputFolderError(f"{output}: the output folder must not be inside the image folder {images}")
    if images_root.is_relative_to(output_root):
        raise OutputFolderError(f"{output}: the output folder must not contain the image folder {images}")
    if output_root.exists() and not output_root.is_dir():
        raise OutputFolderError(f"{output}: exists and is not a folder")
    return images_root, output_root


def prepare_output(output_root: Path, state: Path, fingerprint: dict[str, Any], overwrite: bool) -> dict[str, ImageResult]:
    """Check the output folder can take this run; return the images an earlier run finished."""
    settings_file = state / "run.json"
    if output_root.exists() and any(output_root.iterdir()) and not settings_file.is_file() and not overwrite:
        raise OutputFolderError(
            f"{output_root}: the output folder is not empty and was not made by trapblur; "
            "choose an empty or new folder (or overwrite=True / --overwrite to write into it anyway)"
        )
    finished: dict[str, ImageResult] = {}
    if settings_file.is_file() and not overwrite:
        earlier = json.loads(settings_file.read_text(encoding="utf-8"))
        if earlier.get("fingerprint") != fingerprint:
            raise OutputFolderError(
                f"{output_root}: this folder was made with other settings or other results "
                f"({_difference(earlier.get('fingerprint', {}), fingerprint)}). Resuming would mix the two: "
                "use overwrite=True (--overwrite) to redo every image, or choose a new output folder"
            )
        for name in (output_root / REPORT_NAME, state / "journal.csv"):
            if name.is_file():
                try:
                    finished.update({r.input: r for r in read_report(name) if r.written})
                except (KeyError, ValueError, OSError):
                    log.warning("%s is unreadable; its images will be redone", name)
    output_root.mkdir(parents=True, exist_ok=True)
    removed = remove_partial_files(output_root)
    if removed:
        log.info("removed %d partial files left by an interrupted run", removed)
    _write_state(state, fingerprint, complete=False)
    return finished


def _write_state(state: Path, fingerprint: dict[str, Any], complete: bool,
                 run_info: Mapping[str, Any] | None = None) -> None:
    document = {"trapblur_version": __version__, "complete": complete, "fingerprint": fingerprint,
                **(run_info or {})}
    write_text_atomically(state / "run.json", json.dumps(document, indent=1))


def _run_info(images_root: Path, results: Results, applied: AppliedCorrections | None) -> dict[str, Any]:
    """Where the run's inputs are (for ``trapblur review``, which shows the originals) and its corrections."""
    info: dict[str, Any] = {"images": str(images_root), "results_file": str(results.source or "")}
    if applied is not None:
        info["corrections"] = applied.record()
    return info


def reviewer_category(options: BlurOptions) -> str:
    """The category a reviewer's box is blurred as: person when people are blurred, else the first one."""
    return "person" if "person" in options.categories else options.categories[0]


def _difference(before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    if before.get("results") != now.get("results"):
        return "the results differ"
    if before.get("box_frame_rules") != now.get("box_frame_rules"):
        return "made by a trapblur with other rules for where rotated images' boxes are"
    if before.get("jpeg_mode") != now.get("jpeg_mode"):
        return f"jpeg_mode was {before.get('jpeg_mode')}, now {now.get('jpeg_mode')}"
    if before.get("copy_unlisted") != now.get("copy_unlisted"):
        return f"copy_unlisted was {before.get('copy_unlisted')}, now {now.get('copy_unlisted')}"
    old, new = before.get("options", {}), now.get("options", {})
    changed = [f"{key} was {old.get(key)}, now {new.get(key)}" for key in new if old.get(key) != new.get(key)]
    return "; ".join(changed) or "unknown difference"


def results_fingerprint(results: Results) -> str:
    """A short hash of what the results say (entries and detections), to detect a change between runs."""
    digest = hashlib.sha256()
    for entry in results.images:
        digest.update(repr((entry.file, entry.failure, entry.detections)).encode())
    return digest.hexdigest()[:16]
