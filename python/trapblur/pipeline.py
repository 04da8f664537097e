"""The batch: walk the image folder, decide per image (copy / blur / withhold), write the shareable copy.

Guarantees
----------
* **Fail closed.** Only two things are ever written: an image whose selected detections were all hidden,
  and an image the results say has nothing to hide, copied byte for byte. Anything else (not in the
  results, detector failure, unreadable, unsupported, any error) is withheld and reported with its reason,
  and any stale output of it from an earlier run is deleted.
* **The input is never written to.** The output folder may not be, contain, or sit inside the image folder.
* **Atomic and resumable.** Each file is written to a temporary name and renamed. Finished images are
  journalled in ``.trapblur/journal.csv`` as they complete (see :mod:`.report` for its format). A re-run
  with the same settings skips an image only when its output is still there, its bytes still hash to the
  journalled ``input_sha256`` and its results entry to the journalled ``entry_sha256``; anything else is
  redone. A re-run with other settings refuses to mix the two (``overwrite=True`` redoes everything).
  A reviewer's corrections file (:mod:`.corrections`) is not part of those settings: a re-run with a new
  or changed one redoes just the images whose corrections changed.
* **One run per output folder.** A lock on ``.trapblur/lock`` (released by the system however the run ends)
  makes a second run into the same folder stop with a clear error.
* **Detections match the image.** Results written by trapblur's detector record the SHA-256 of each image it
  looked at; an image whose bytes have changed since is withheld, not blurred with another picture's boxes.
* **Streaming.** Images are decoded a few at a time in a thread pool (the codecs release the GIL); rows
  are written as they complete, in folder order, so memory does not grow with the number of images.
* **Or on a cluster.** Given a Dask client, the same per-image calls run on its workers, many images per
  task (:mod:`trapblur.cluster`); this module still records every row, in folder order.
"""

from __future__ import annotations

import csv
import dataclasses
import errno
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
from .atomic import (
    copy_atomically, link_atomically, remove_temporary_files, temporary_beside, write_bytes_atomically,
    write_text_atomically,
)
from .checks import check_callback, check_flag, check_path, check_whole
from .codecs import inspect_image, jpeg_picture_end, sniff_format, unseen_pictures
from .categories import check_defined
from .content import CONTENT_KEY, content_map, digest_bytes, hash_file, open_input, read_input
from .corrections import AppliedCorrections, apply_to_files, match_corrections, read_corrections
from .dataset import Dataset, ImageFile, build_dataset, check_listing
from .errors import ImageError, OptionsError, OutputFolderError, PreviewError, TaskFailed, os_error_reason
from .frames import FRAME_RULES_VERSION, UNKNOWN_SOURCE, BoxSource, box_frames, identify_box_source
from .lock import OutputLock
from .options import DEFAULT_THRESHOLD, BlurOptions, ThresholdArg
from .regions import regions_to_hide, select_detections
from .report import MALFORMED_ENTRY, ImageResult, ReportWriter, RunReport, read_report
from .results import ImageEntry, Results, ResultsWriter, category_ids, read_results
from .single import check_jpeg_mode, hide_and_encode

log = logging.getLogger(__name__)

STATE_FOLDER = ".trapblur"
STATE_NAME = "run.json"  # in STATE_FOLDER: the settings of the run that made the folder
JOURNAL_NAME = "journal.csv"  # in STATE_FOLDER: one row per image as it completes (see trapblur.report)
LOCK_NAME = "lock"  # in STATE_FOLDER: locked while a run writes the folder (see trapblur.lock)
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
        for name in ("copy_unlisted", "link_unchanged", "overwrite"):
            object.__setattr__(self, name, check_flag(name, getattr(self, name)))
        object.__setattr__(self, "workers", check_whole("workers", self.workers, none_means="one per CPU core"))


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
    images_path = check_path("images", images)
    output_path = check_path("output", output)
    checked_results = check_results_argument(results)
    progress = check_callback("progress", progress)
    options = BlurOptions(
        threshold=threshold, strength=strength, categories=categories, padding=padding, shape=shape, method=method,
    )
    settings = RunSettings(copy_unlisted, link_unchanged, overwrite, workers, jpeg_mode)
    corrections_path = check_path("corrections", corrections, none_ok=True)
    return run_batch(images_path, checked_results, output_path, options, settings, progress,
                     corrections=corrections_path, client=client)


def check_results_argument(results: Any) -> Path | Results:
    """``results`` as a path or :class:`Results`; anything else is an :class:`OptionsError`."""
    if isinstance(results, Results):
        return results
    if isinstance(results, Mapping):
        raise OptionsError(
            "results must be the path of a MegaDetector results file or a trapblur.Results, not a dict; "
            "for a parsed document use trapblur.results.results_from_dict(document)", argument="results",
        )
    path = check_path("results", results)
    assert path is not None
    return path


def run_batch(
    images: Path,
    results: PathLike | Results,
    output: Path,
    options: BlurOptions,
    settings: RunSettings,
    progress: Progress | None = None,
    corrections: Path | None = None,
    lock: OutputLock | None = None,
    client: Any = None,
) -> RunReport:
    """:func:`blur_dataset` with its options already checked.

    ``lock`` is the output folder's lock when the caller already holds it (see :func:`lock_output_folder`);
    it is then left held. Otherwise the run takes the lock and releases it at the end.
    """
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
    fingerprint = run_fingerprint(options, settings)
    state = output_root / STATE_FOLDER
    prepared = prepare_output(output_root, state, fingerprint, settings.overwrite, lock)
    try:
        run = _Run(dataset, results, options, settings, output_root, state, fingerprint, prepared, warnings,
                   applied, _run_info(images_root, results, applied), started, started_at, client)
        report = _run_locked(run, progress)
    finally:
        if lock is None:
            prepared.lock.release()
    report.elapsed_s = time.perf_counter() - started
    log.info("finished: %s", report.summary().splitlines()[0])
    return report


@dataclass(frozen=True)
class _Run:
    """Everything one run of the batch works from, decided before the first image is touched."""

    dataset: Dataset
    results: Results
    options: BlurOptions
    settings: RunSettings
    output_root: Path
    state: Path
    fingerprint: dict[str, Any]
    prepared: PreparedOutput
    warnings: list[str]
    corrections: AppliedCorrections | None
    info: dict[str, Any]  # where the inputs are, for run.json (``trapblur review`` shows the originals)
    started: float
    started_at: str
    client: Any = None  # a Dask client: the images run on its workers (trapblur.cluster)


def _run_locked(run: _Run, progress: Progress | None) -> RunReport:
    """The batch, in an output folder already prepared and locked."""
    dataset, results, options, settings = run.dataset, run.results, run.options, run.settings
    output_root, state, fingerprint, applied = run.output_root, run.state, run.fingerprint, run.corrections
    corrected = applied.descriptions() if applied else {}
    # Corrections are not in the fingerprint: an image finished under other corrections is redone.
    finished = {name: r for name, r in run.prepared.finished.items() if r.correction == corrected.get(name, "")}
    report = RunReport(
        output=str(output_root),
        report_csv=str(output_root / REPORT_NAME),
        results_json=str(output_root / RESULTS_NAME),
        total=len(dataset.files),
        warnings=run.warnings,
        matched_by_trailing_part=dataset.matched_by_trailing_part,
        trailing_part_prefixes=dict(dataset.trailing_part_prefixes),
        correction_problems=applied.problem_lines() if applied else [],
    )
    for line in report.correction_problems:
        log.warning("correction not applied: %s", line)
    with _writing(state / STATE_NAME, "write the run's state"):
        _write_state(state, fingerprint, complete=False, run_info=run.info)
    journal_path = state / JOURNAL_NAME
    info = {k: v for k, v in results.info.items() if k != CONTENT_KEY}  # hashes of inputs, not of this folder
    provenance = {"version": __version__, **fingerprint, "results": results_fingerprint(results),
                  "source": str(results.source or "")}
    recorded = content_map(results.info)
    with _writing(output_root, "write the results file for the output"):
        writer = ResultsWriter(Path(report.results_json), {**info, "trapblur": provenance},
                               category_ids(results.category_names), results.classification_categories)
    completed = False
    try:
        with _writing(journal_path, "write the journal"), ReportWriter(journal_path) as journal:

            def record(result: ImageResult, file: ImageFile | None) -> None:
                if file is not None and result.correction != corrected.get(file.relative, ""):
                    result = dataclasses.replace(result, correction=corrected[file.relative])
                with _writing(journal_path, "record progress in the journal"):
                    journal.write(result)
                    if file is not None and result.written:
                        writer.add(_output_entry(file, result))
                report.add(result)

            for folder in dataset.unreadable:
                record(ImageResult(folder.relative + "/", "", "failed",
                                   reason=f"folder could not be listed ({folder.reason}): nothing in it was read"), None)
            _process_all(dataset, options, settings, output_root, finished, recorded, report, record, progress,
                         identify_box_source(results.info), run.client)
            for unmatched in dataset.unmatched:
                record(ImageResult(unmatched.label, "", unmatched.action, reason=unmatched.reason), None)
        _remove_stale_outputs(output_root, run.prepared.written_before, {f.relative for f in dataset.files})
        with _writing(output_root, "finish the report"):
            writer.close()
            os.replace(journal_path, report.report_csv)
            elapsed = time.perf_counter() - run.started
            _write_state(state, fingerprint, complete=True, run_info={
                **run.info, "started": run.started_at, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "elapsed_s": round(elapsed, 3), "processed": report.processed})
        completed = True
    finally:
        if not completed:
            try:
                writer.discard()
            except OSError as exc:  # a full disk again: the error being raised already says so
                log.warning("%s: the unfinished results file could not be discarded (%s); the next run "
                            "removes it", report.results_json, os_error_reason(exc))
    return report


@contextmanager
def _writing(path: Path, what: str) -> Iterator[None]:
    """Turn an OSError while writing the run's own files into one clear :class:`OutputFolderError`."""
    try:
        yield
    except OSError as exc:
        raise _folder_error(path, what, exc) from None


def _process_all(
    dataset: Dataset,
    options: BlurOptions,
    settings: RunSettings,
    output_root: Path,
    finished: Mapping[str, ImageResult],
    recorded: Mapping[str, str],
    report: RunReport,
    record: Callable[[ImageResult, ImageFile | None], None],
    progress: Progress | None,
    box_source: BoxSource = UNKNOWN_SOURCE,
    client: Any = None,
) -> None:
    """Process every file in a bounded thread pool (or on a Dask cluster), recording results in folder order.

    ``finished`` holds the journalled rows of an earlier run (by input), ``recorded`` the content hash each
    results entry was made from (by entry file; empty for results from other tools).

    The batch parallelises over images, so for its duration the BLAS libraries numpy and OpenCV carry
    (OpenBLAS, used by the block-wise JPEG path) are held to one thread each, as joblib does for its
    workers: left alone, their own spinning threads fought the workers and 2 workers ran no faster than 1.
    """
    pending: deque[tuple[ImageFile, Future[tuple[ImageResult, bool]]]] = deque()
    done = 0

    def emit_oldest() -> None:
        nonlocal done
        file, outcome = pending.popleft()
        try:
            result, reused = outcome.result()
        except TaskFailed as exc:  # only on a cluster: the task holding this image could not run
            result, reused = _task_failed(file, output_root, str(exc)), False
        if not reused:
            report.processed += 1
        record(result, file)
        done += 1
        if progress is not None:
            progress(done, len(dataset.files))

    with _image_pool(settings.workers, client, output_root) as (pool, window):
        try:
            for file in dataset.files:
                expected = recorded.get(file.entry.file) if file.entry is not None else None
                pending.append((file, pool.submit(resume_or_process, file, finished.get(file.relative), expected,
                                                  options, settings, output_root, box_source)))
                while len(pending) >= window:
                    emit_oldest()
            while pending:
                emit_oldest()
        except BaseException:
            for _, outcome in pending:
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


def resume_or_process(
    file: ImageFile,
    earlier: ImageResult | None,
    expected: str | None,
    options: BlurOptions,
    settings: RunSettings,
    output_root: Path,
    box_source: BoxSource = UNKNOWN_SOURCE,
) -> tuple[ImageResult, bool]:
    """The earlier run's row when it still holds (``True``), else the image processed now (``False``)."""
    if earlier is not None and _still_valid(file, earlier, expected, output_root, box_source):
        return earlier, True
    return process_image(file, options, settings, output_root, expected, box_source), False


def _still_valid(file: ImageFile, earlier: ImageResult, expected: str | None, output_root: Path,
                 box_source: BoxSource = UNKNOWN_SOURCE) -> bool:
    """True when the earlier output was made from these bytes and this results entry (read as boxes from
    the same tool), and is still there."""
    if not earlier.written or not earlier.input_sha256 or earlier.entry_sha256 != entry_digest(file.entry, box_source):
        return False
    if file.problem is not None or (expected is not None and expected != earlier.input_sha256):
        return False
    try:
        return (output_root / earlier.output).is_file() and hash_file(file.path) == earlier.input_sha256
    except (OSError, ImageError):
        return False  # redone, and the problem reported then


def process_image(
    file: ImageFile,
    options: BlurOptions,
    settings: RunSettings,
    output_root: Path,
    expected: str | None = None,
    box_source: BoxSource = UNKNOWN_SOURCE,
) -> ImageResult:
    """Decide what to do with one file and do it. Never raises: problems become withheld/failed rows.

    ``expected`` is the SHA-256 of the bytes the file's detections were made from, when the results say:
    an image whose bytes differ is withheld (its detections are for another picture).

    ``box_source`` (the tool that made the boxes) decides, with the file's orientation evidence, which
    frame the boxes are in (:mod:`.frames`); when that is ambiguous every candidate place is hidden.
    """
    destination = output_root / file.relative
    entry = file.entry
    person_conf = entry.max_conf("person") if entry and entry.processed else None
    base = ImageResult(input=file.relative, output="", action="withheld", max_person_conf=person_conf,
                       entry_sha256=entry_digest(entry, box_source))

    def verify(sha256: str) -> None:
        if expected is not None and sha256 != expected:
            raise _ChangedSinceDetection(sha256)

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
            encoding, sha256, note = _copy_unchanged(file.path, destination, settings.link_unchanged, verify)
            reason = "; ".join(filter(None, ("" if entry else "not in the results; copied because copy_unlisted is on",
                                             note)))
            return dataclasses.replace(base, output=file.relative, action="copied", encoding=encoding, reason=reason,
                                       input_sha256=sha256)
        data = read_input(file.path)
        sha256 = digest_bytes(data)
        verify(sha256)
        base = dataclasses.replace(base, input_sha256=sha256)
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
    except _ChangedSinceDetection as exc:
        reason = ("its bytes differ from the image the detections were made for (changed or replaced since "
                  "detection): detect again")
        return _not_written(dataclasses.replace(base, reason=reason, input_sha256=exc.sha256), destination)
    except PreviewError as exc:  # readable and blurred, but a preview in its metadata may show the person
        return _not_written(dataclasses.replace(base, action="withheld", reason=str(exc)), destination)
    except ImageError as exc:
        return _not_written(dataclasses.replace(base, action="failed", reason=str(exc)), destination)
    except OSError as exc:
        return _not_written(dataclasses.replace(base, action="failed", reason=_io_reason(exc, output_root)),
                            destination)
    except Exception as exc:  # a bug must not stop the batch nor let the image through
        log.exception("internal error on %s", file.path)
        reason = f"internal error ({type(exc).__name__}: {exc})"
        return _not_written(dataclasses.replace(base, action="failed", reason=reason), destination)


class _ChangedSinceDetection(Exception):
    def __init__(self, sha256: str) -> None:
        super().__init__(sha256)
        self.sha256 = sha256


def entry_digest(entry: ImageEntry | None, box_source: BoxSource = UNKNOWN_SOURCE) -> str:
    """SHA-256 of what a results entry says about its image (failure and detections), and of the tool that
    made its boxes, which decides the frame they are in (:mod:`.frames`); "" for no entry."""
    if entry is None:
        return ""
    return hashlib.sha256(repr((entry.failure, entry.detections, box_source.tool)).encode()).hexdigest()


_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def _io_reason(exc: OSError, output_root: Path) -> str:
    """"cannot write the output (no space left on the disk)" or "cannot read the file (...)"."""
    name = exc.filename if isinstance(exc.filename, str) else ""
    if name:
        doing = "write the output" if Path(name).is_relative_to(output_root) else "read the file"
    else:  # read() and write() errors name no file: what kind of error it is says which it was
        doing = "write the output" if exc.errno in _WRITE_ERRORS else "read or write the file"
    return f"cannot {doing} ({os_error_reason(exc)})"


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
        return "not in the results file, so not known to be person-free (copy_unlisted=True copies such images)"
    if not entry.processed:
        return f"the detector could not process it ({entry.failure})"
    return entry.detections or ()


def _copy_unchanged(
    source: Path, destination: Path, link: bool, verify: Callable[[str], None]
) -> tuple[str, str, str]:
    """Copy (or hard-link) an image with nothing to hide; returns how, the SHA-256 of its bytes, and a note.

    A JPEG is copied up to the end of its own picture: anything a camera or phone appended after it
    (multi-picture previews, a motion photo's video, a gain map) is a picture no detector looked at, so it
    is left out and the note says so. Everything before it, metadata included, is copied byte for byte.
    """
    with open_input(source) as stream:
        head = stream.read(16)
        kind = sniff_format(head)
        unseen = unseen_pictures(stream, kind) if kind else None
    if not head:
        raise ImageError("empty file (0 bytes)")
    if kind is None:
        raise ImageError("not a JPEG, PNG or TIFF image (unrecognised file signature)")
    if unseen:
        raise PreviewError(f"{unseen}, so nobody checked the rest for people: not written")
    if kind == "JPEG":
        data = read_input(source)
        sha256 = digest_bytes(data)
        verify(sha256)
        end = jpeg_picture_end(data)
        if end < len(data):
            write_bytes_atomically(destination, data[:end])
            _copy_times(source, destination)
            return "copy", sha256, (f"{len(data) - end:,} bytes after the end of the picture removed (another "
                                    "picture or a video, which no detector looked at)")
        if not (link and _try_link(source, destination)):
            write_bytes_atomically(destination, data)
            _copy_times(source, destination)
            return "copy", sha256, ""
        return "link", sha256, ""
    if link:
        sha256 = hash_file(source)
        verify(sha256)
        if _try_link(source, destination):
            return "link", sha256, ""
    return "copy", copy_atomically(source, destination, verify), ""


def _try_link(source: Path, destination: Path) -> bool:
    try:
        link_atomically(source, destination)
        return True
    except OSError:
        return False  # another disk, or a file system without hard links: copy instead


def _copy_times(source: Path, destination: Path) -> None:
    stat = source.stat()
    os.utime(destination, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _not_written(result: ImageResult, destination: Path) -> ImageResult:
    # An output left by an earlier run (other settings, other results) must not survive a withhold.
    try:
        if destination.is_file() or destination.is_symlink():
            destination.unlink()
    except OSError as exc:
        if exc.errno in (errno.ENAMETOOLONG, errno.ENOTDIR, errno.ELOOP, errno.ENOENT):
            return result  # a path the system cannot even look up holds no earlier output
        log.error("%s: an earlier output could not be deleted (%s)", destination, os_error_reason(exc))
        return dataclasses.replace(result, action="failed", reason=(
            f"{result.reason}; AN EARLIER OUTPUT OF IT IS STILL IN THE OUTPUT FOLDER and could not be deleted "
            f"({os_error_reason(exc)}): delete {destination} by hand"))
    return result


def _remove_stale_outputs(output_root: Path, written_before: Mapping[str, str], inputs: set[str]) -> None:
    """Delete outputs an earlier run wrote for images no longer in the image folder (or no longer listable).

    ``written_before`` maps earlier inputs to their outputs, from the earlier journal or report. A name that
    differs from a current image's only in letter case is left alone: on a case-insensitive disk (exFAT
    cards, macOS, Windows) it is the same file as that image's new output.
    """
    state = output_root / STATE_FOLDER
    current = {name.casefold() for name in inputs}
    for input_name, output_name in written_before.items():
        if input_name in inputs or not output_name or output_name.casefold() in current:
            continue
        stale = (output_root / output_name)
        try:
            if stale.resolve().is_relative_to(output_root) and not stale.resolve().is_relative_to(state) \
                    and stale.is_file():
                stale.unlink()
                log.info("removed %s: its image is no longer in the image folder", stale)
        except OSError as exc:
            log.warning("%s: an output of an image no longer in the folder could not be deleted (%s)",
                        stale, os_error_reason(exc))


def _output_entry(file: ImageFile, result: ImageResult) -> ImageEntry:
    if file.entry is None:
        return ImageEntry(file=result.output, detections=None, failure="not in the original results")
    return dataclasses.replace(file.entry, file=result.output)


# ----------------------------------------------------------------------------------------------------------
# Folders and the run's state


def check_folders(images: Path, output: Path) -> tuple[Path, Path]:
    """Resolved image and output folders; refuses overlapping ones."""
    images_kind = _kind_of(images, "image folder")
    if images_kind == "missing":
        raise OutputFolderError(f"{images}: image folder not found")
    if images_kind != "folder":
        raise OutputFolderError(f"{images}: is a file, not a folder of images")
    images_root, output_root = images.resolve(), output.resolve()
    if output_root == images_root:
        raise OutputFolderError(f"{output}: the output folder must not be the image folder")
    if output_root.is_relative_to(images_root):
        raise OutputFolderError(f"{output}: the output folder must not be inside the image folder {images}")
    if images_root.is_relative_to(output_root):
        raise OutputFolderError(f"{output}: the output folder must not contain the image folder {images}")
    if _kind_of(output_root, "output folder") not in ("missing", "folder"):
        raise OutputFolderError(f"{output}: exists and is not a folder")
    return images_root, output_root


def _kind_of(path: Path, what: str) -> str:
    """"missing", "folder" or "file"; an OSError other than "no such file" is an OutputFolderError."""
    try:
        return "folder" if path.is_dir() else "file" if path.exists() else "missing"
    except OSError as exc:
        raise _folder_error(path, f"use it as the {what}", exc) from None


@dataclass
class PreparedOutput:
    """An output folder ready for a run: locked, cleaned, and what an earlier run left in it."""

    finished: dict[str, ImageResult]  # rows an earlier run wrote an output for, by input (none with overwrite)
    written_before: dict[str, str]  # input -> output of every image an earlier run wrote
    lock: OutputLock


def prepare_output(output_root: Path, state: Path, fingerprint: dict[str, Any], overwrite: bool,
                   held: OutputLock | None = None) -> PreparedOutput:
    """Check the output folder can take this run, lock it, and read what an earlier run finished.

    Every problem is an :class:`OutputFolderError` naming the path: read-only folder, a file in the way, a
    name too long, a full disk, another run holding the lock. A folder holding nothing but a ``.trapblur``
    state folder (a run that stopped at its start) counts as empty. ``held`` is the lock when the caller
    holds it already (it is then not released here on failure).
    """
    lock = held or _lock_output(output_root, state, fingerprint, overwrite)
    try:
        rows = _earlier_rows(output_root, state)
        with _writing(output_root, "clean up the temporary files of an interrupted run"):
            removed = remove_temporary_files(output_root)
        if removed:
            log.info("removed %d temporary files left by an interrupted run", removed)
        with _writing(state / STATE_NAME, "write the run's state"):
            _write_state(state, fingerprint, complete=False)
    except BaseException:
        if held is None:
            lock.release()
        raise
    return PreparedOutput({} if overwrite else rows, {r.input: r.output for r in rows.values()}, lock)


def lock_output_folder(output: Path, options: BlurOptions, settings: RunSettings) -> OutputLock:
    """Lock the output folder now, refusing what :func:`prepare_output` would refuse; pass it to run_batch.

    For callers with a long step before the batch (``anonymise`` detects first): a read-only output folder,
    a full disk, another run, or a folder made with other settings is reported before the hour of detection,
    not after, and no second run can start in between. Nothing is written but the folder and its lock.
    """
    output_root = output.resolve()
    state = output_root / STATE_FOLDER
    lock = _lock_output(output_root, state, run_fingerprint(options, settings), settings.overwrite)
    try:
        with _writing(state, "write to the output folder"):
            handle, probe = temporary_beside(state / STATE_NAME)
            try:
                os.write(handle, b"trapblur checks that it can write here\n")
            finally:
                os.close(handle)
                probe.unlink()
    except BaseException:
        lock.release()
        raise
    return lock


def discard_unused_output(output_root: Path) -> None:
    """Remove an output folder that holds nothing but an unused state folder (a run refused at its start).

    Called, after the lock is released, by callers that created the folder before a check that can still
    refuse the run (``anonymise`` locks before loading the model): a refused start leaves nothing behind.
    """
    state = output_root / STATE_FOLDER
    try:
        if any(p.name != STATE_FOLDER for p in output_root.iterdir()):
            return
        if state.is_dir() and any(p.name != LOCK_NAME for p in state.iterdir()):
            return
        (state / LOCK_NAME).unlink(missing_ok=True)
        if state.is_dir():
            state.rmdir()
        output_root.rmdir()
    except OSError as exc:  # leaving it is harmless: a folder holding only .trapblur counts as empty
        log.info("%s: could not remove the unused output folder (%s)", output_root, os_error_reason(exc))


def run_fingerprint(options: BlurOptions, settings: RunSettings) -> dict[str, Any]:
    """What defines the output's pixels: a re-run must match it to resume (the results are compared per image)."""
    return {"options": options.describe(), "copy_unlisted": settings.copy_unlisted, "jpeg_mode": settings.jpeg_mode,
            "box_frame_rules": FRAME_RULES_VERSION}


def _lock_output(output_root: Path, state: Path, fingerprint: dict[str, Any], overwrite: bool) -> OutputLock:
    """Create and lock the output folder after the refusals that need no lock; then compare the settings."""
    with _writing(output_root, "use it as the output folder"):
        foreign = output_root.is_dir() and any(p.name != STATE_FOLDER for p in output_root.iterdir())
        ours = state.is_dir()
    if foreign and not ours and not overwrite:
        raise OutputFolderError(
            f"{output_root}: the output folder is not empty and was not made by trapblur; "
            "choose an empty or new folder (or overwrite=True to write into it anyway)"
        )
    with _writing(output_root, "create the output folder"):
        output_root.mkdir(parents=True, exist_ok=True)
        state.mkdir(exist_ok=True)
    lock = OutputLock(state / LOCK_NAME, output_root)
    with _writing(state / LOCK_NAME, "lock the output folder"):
        lock.acquire()
    try:
        earlier = _read_state(state / STATE_NAME, overwrite)
        if earlier is not None and not overwrite:
            before = earlier.get("fingerprint") or {}
            if {key: before.get(key) for key in fingerprint} != fingerprint:
                raise OutputFolderError(
                    f"{output_root}: this folder was made with other settings "
                    f"({_difference(before, fingerprint)}). Resuming would mix the two: "
                    "use overwrite=True to redo every image, or choose a new output folder"
                )
    except BaseException:
        lock.release()
        raise
    return lock


def _read_state(settings_file: Path, overwrite: bool) -> dict[str, Any] | None:
    try:
        if not settings_file.is_file():
            return None
        document = json.loads(settings_file.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        return document
    except (OSError, ValueError) as exc:
        if overwrite:
            return None
        raise OutputFolderError(
            f"{settings_file}: the state of an earlier run cannot be read ({exc}); use overwrite=True "
            "to redo every image, or choose a new output folder"
        ) from None


def _earlier_rows(output_root: Path, state: Path) -> dict[str, ImageResult]:
    """The rows with an output that an earlier run recorded (its report, then its journal), by input."""
    rows: dict[str, ImageResult] = {}
    for name in (output_root / REPORT_NAME, state / JOURNAL_NAME):
        try:
            if name.is_file():
                rows.update({r.input: r for r in read_report(name) if r.written})
        except (KeyError, ValueError, OSError, csv.Error):
            log.warning("%s is unreadable; its images will be redone", name)
    return rows


def _write_state(state: Path, fingerprint: dict[str, Any], complete: bool,
                 run_info: Mapping[str, Any] | None = None) -> None:
    document = {"trapblur_version": __version__, "complete": complete, "fingerprint": fingerprint,
                **(run_info or {})}
    write_text_atomically(state / STATE_NAME, json.dumps(document, indent=1))


def _folder_error(path: Path, what: str, exc: OSError) -> OutputFolderError:
    if exc.errno == errno.ENOTDIR:
        blocker = next((p for p in (path, *path.parents) if p.is_file()), None)
        if blocker is not None:
            return OutputFolderError(f"{path}: cannot {what}: {blocker} is a file, not a folder")
    where = exc.filename if isinstance(exc.filename, str) and exc.filename else str(path)
    return OutputFolderError(f"{where}: cannot {what}: {os_error_reason(exc)}")


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
    """A short hash of what the results say (entries and detections): which results made the folder.

    Kept for provenance in the output's results file. Resuming with changed results is allowed: each image is
    redone when its own entry changed (the journal's ``entry_sha256``)."""
    digest = hashlib.sha256()
    for entry in results.images:
        digest.update(repr((entry.file, entry.failure, entry.detections)).encode())
    return digest.hexdigest()[:16]
