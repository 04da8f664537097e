"""Run a detector over a folder of images and produce MegaDetector results (format 1.5).

Decoding and letterboxing run in a thread pool (OpenCV releases the GIL) ahead of inference, a bounded
number of images at a time, so memory stays flat however many images there are. Images that cannot be read
or run get a ``failure`` entry (MegaDetector's "image access failure" / "inference failure") and the batch
goes on; the reason for each is logged and kept in ``info["trapblur_failures"]``.

Each image is read once; its bytes are hashed (SHA-256) and decoded from memory, and the hash is kept in
``info["trapblur_content_sha256"]`` (``{file: sha256}``), so the results say exactly which bytes each entry
describes. Earlier results (a checkpoint, or the complete ``output_json`` of an earlier call) are reused only
for images whose bytes still hash the same: an image replaced by ``cp -p`` or ``rsync -a`` (same modification
time, new picture) is detected again. See :mod:`trapblur.content`.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, Union

import numpy as np

from .. import png
from .._version import __version__
from ..atomic import temporary_beside
from ..checks import check_callback, check_flag, check_number, check_path, check_text, check_whole
from ..content import CONTENT_KEY, content_map, digest_bytes, read_input, unchanged
from ..dataset import UnreadableFolder, walk_folder
from ..errors import (
    ClusterError, ImageError, OptionsError, OutputFolderError, ResultsFormatError, TaskFailed, os_error_reason,
)
from ..frames import FRAME_MARKER, FRAME_MARKER_KEY, is_frame_marker
from ..results import Detection, ImageEntry, Results, read_results, write_results
from . import postprocess
from .backends import LoadedModel, load_model
from .models import category_map, check_model_finds, resolve_model
from .preprocess import Letterboxed, letterbox, read_upright, to_tensor_layout

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
Progress = Callable[[int, int], None]

FAILURE_IMAGE = "image access failure"  # MegaDetector's own failure strings
FAILURE_INFER = "inference failure"
DEFAULT_CONFIDENCE_FLOOR = 0.005
#: File endings detect looks at: exactly those the blurring core treats as images it can edit.


@dataclass(frozen=True)
class _Prepared:
    relative: str
    letterboxed: Letterboxed | None
    failure: str | None = None
    sha256: str | None = None  # of the bytes decoded


def list_images(images: Path, recursive: bool = True) -> list[tuple[str, Path]]:
    """(relative POSIX name, path) of every image under ``images`` (or the one file ``images``), sorted."""
    if images.is_file():
        return [(images.name, images)]
    if not images.is_dir():
        raise OptionsError(f"{images}: image folder not found")
    def unreadable(folder: UnreadableFolder) -> None:
        log.warning("%s: folder could not be listed (%s): its images are not detected", images / folder.relative,
                    folder.reason)

    found = []
    for file in walk_folder(images, unreadable):
        if file.kind != "image" or file.problem is not None:
            continue
        if not recursive and "/" in file.relative:
            continue
        found.append((file.relative, file.path))
    return sorted(found)


def detect(
    images: PathLike,
    *,
    model: PathLike | None = None,
    output_json: PathLike | None = None,
    recursive: bool = True,
    confidence_floor: float = DEFAULT_CONFIDENCE_FLOOR,
    device: str | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    image_size: int | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    progress: Progress | None = None,
    backend: str = "auto",
    categories: Sequence[str] | None = None,
    client: Any = None,
) -> Results:
    """Find animals, people and vehicles in every image under ``images`` and return MegaDetector results.

    ``model`` is a registry name (see :func:`trapblur.list_models`), a ``.pt``/``.onnx`` path, or None for the
    default (MegaDetector v5a when its weights are on this machine, otherwise the built-in person model).
    Nothing is downloaded. Detections down to ``confidence_floor`` are kept, so thresholds can be chosen later.
    ``backend="auto"`` runs Ultralytics ``.pt`` models on the CPU through a cached ONNX copy (faster; see
    :mod:`trapblur.detection.onnx_twin`); ``"torch"`` keeps PyTorch.

    With ``output_json`` the results are written there (MegaDetector format 1.5, atomically); with
    ``checkpoint_every=N`` partial results are written every N images to ``<output_json stem>.checkpoint.json``.
    With ``resume=True`` a later call with the same model and settings continues from the checkpoint, and
    reuses the entries of an earlier complete ``output_json``, for the images whose bytes are unchanged
    (SHA-256): new and changed images are detected, images no longer there are dropped.

    ``progress(done, total)`` is called from the calling thread.

    ``categories`` (canonical names): refuse with :class:`OptionsError`, once the model is loaded and
    before any image is read, when the model cannot find one of them.

    ``client`` (a ``distributed.Client`` or :class:`trapblur.cluster.Cluster`) runs detection on that Dask
    cluster's workers, many images per task, each worker loading the model once and using the GPU it
    declares (Dask resource ``GPU``); the images must be on storage every worker sees at the same paths.
    """
    root = check_path("images", images)
    assert root is not None
    if not root.exists():
        raise OptionsError(f"{root}: image folder not found")
    confidence_floor = check_number("confidence_floor", confidence_floor, low=0.0, high=0.999)
    batch_size = check_whole("batch_size", batch_size, none_means="automatic")
    workers = check_whole("workers", workers, none_means="automatic")
    checkpoint_every = check_whole("checkpoint_every", checkpoint_every, none_means="no checkpoints")
    image_size = check_whole("image_size", image_size, low=32, none_means="the model's own")
    recursive, resume = check_flag("recursive", recursive), check_flag("resume", resume)
    progress = check_callback("progress", progress)
    check_text("device", device, none_ok=True)
    if model is not None:
        check_path("model", model)
    output = check_path("output_json", output_json, none_ok=True)
    if output is not None:
        _refuse_inside(output, root)
        _check_writable(output)  # before the model loads and hours of detection, not after
    if checkpoint_every is not None and output is None:
        raise OptionsError("checkpoint_every needs output_json (the checkpoint is written beside it)",
                           argument="checkpoint_every")
    files = list_images(root, recursive)
    loaded = load_model(resolve_model(model), device=device, image_size=image_size, backend=backend)
    if categories:
        check_model_finds(categories, loaded.info.name, category_map(loaded.names).values())
    log.info("detecting in %d images under %s with %s", len(files), root, loaded.label)
    info = detection_info(loaded, confidence_floor)

    checkpoint = checkpoint_path(output) if output is not None else None
    done: dict[str, ImageEntry] = {}
    failures: dict[str, str] = {}
    hashes: dict[str, str] = {}
    if resume:
        for earlier, strict in ((output, False), (checkpoint, True)):
            if earlier is not None and earlier.is_file():
                entries, recorded = _reusable(earlier, info, files, strict=strict, workers=workers)
                done.update(entries)
                hashes.update(recorded)
                log.info("reusing %d detections from %s (images unchanged since)", len(entries), earlier)
    elif checkpoint is not None and checkpoint.is_file():
        checkpoint.unlink()
    todo = [(rel, path) for rel, path in files if rel not in done]

    started = time.perf_counter()
    total = len(files)
    since_checkpoint = 0
    if progress is not None:
        progress(len(done), total)
    if client is None:
        stream = run_model(loaded, todo, confidence_floor=confidence_floor, batch_size=batch_size, workers=workers)
    else:
        # Workers run elsewhere, in other folders: every path they get is absolute.
        model_arg = None if model is None else os.fspath(model)
        if model_arg is not None and Path(model_arg).exists():
            model_arg = os.path.abspath(model_arg)
        request = RemoteModel(model=model_arg, device=device, image_size=image_size, backend=backend,
                              confidence_floor=confidence_floor, batch_size=batch_size, workers=workers)
        absolute = [(relative, Path(os.path.abspath(path))) for relative, path in todo]
        stream = _run_on_cluster(client, request, loaded, absolute,
                                 Path(os.path.abspath(root if root.is_dir() else root.parent)), info)
    for entry, reason, sha256 in stream:
        done[entry.file] = entry
        if reason:
            failures[entry.file] = reason
        if sha256 is not None and entry.processed:
            hashes[entry.file] = sha256
        since_checkpoint += 1
        if checkpoint is not None and checkpoint_every and since_checkpoint >= checkpoint_every:
            _write(checkpoint, _results(done, failures, hashes, info))
            since_checkpoint = 0
        if progress is not None:
            progress(len(done), total)
    elapsed = time.perf_counter() - started
    info["detection_completion_time"] = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    results = _results(done, failures, hashes, info)
    log.info("detected in %d images in %.1f s (%.2f images/s) with %s", len(todo), elapsed,
             len(todo) / elapsed if elapsed > 0 else 0.0, loaded.label)
    if output is not None:
        _write(output, results)
        if checkpoint is not None:
            checkpoint.unlink(missing_ok=True)
    return results


def checkpoint_path(output_json: Path) -> Path:
    return output_json.with_name(f"{output_json.stem}.checkpoint.json")


def detection_info(loaded: LoadedModel, confidence_floor: float) -> dict[str, Any]:
    """The ``info`` block: which model ran, its recommended thresholds, how it was run, and which frame
    its boxes are in (:data:`trapblur.frames.FRAME_MARKER`: the picture turned by its EXIF orientation), so
    that blurring with these results maps every box exactly."""
    typical, conservative = loaded.thresholds
    spec = loaded.info.spec
    return {
        "detector": loaded.info.filename,
        "detector_metadata": {
            "megadetector_version": spec.megadetector_version if spec else "unknown",
            "typical_detection_threshold": typical,
            "conservative_detection_threshold": conservative,
            "model_name": loaded.info.name,
            "image_size": loaded.image_size,
            "backend": loaded.backend,
            "classes_used": {loaded.names[i]: c for i, c in sorted(_usable(loaded).items())},
        },
        "trapblur_version": __version__,
        "trapblur_confidence_floor": confidence_floor,
        FRAME_MARKER_KEY: dict(FRAME_MARKER),
    }


def _usable(loaded: LoadedModel) -> dict[int, str]:
    from .models import category_map

    return category_map(loaded.names)


def _refuse_inside(output: Path, root: Path) -> None:
    folder = root.resolve() if root.is_dir() else root.resolve().parent
    if output.resolve().is_relative_to(folder):
        raise OutputFolderError(
            f"{output}: results must not be written inside the image folder {folder} (trapblur never writes "
            "under the input); choose a path outside it"
        )


def _results(done: dict[str, ImageEntry], failures: dict[str, str], hashes: dict[str, str],
             info: dict[str, Any]) -> Results:
    info = dict(info)
    if failures:
        info["trapblur_failures"] = dict(sorted(failures.items()))
    info[CONTENT_KEY] = {k: hashes[k] for k in sorted(hashes) if k in done and done[k].processed}
    return Results(images=[done[k] for k in sorted(done)], info=info)


def _write(path: Path, results: Results) -> None:
    try:
        write_results(results, path)
    except OSError as exc:
        raise OutputFolderError(f"{exc.filename or path}: cannot write the results: {os_error_reason(exc)}") from None


def _check_writable(output: Path) -> None:
    try:
        handle, probe = temporary_beside(output)
        os.close(handle)
        probe.unlink()
    except OSError as exc:
        where = exc.filename if isinstance(exc.filename, str) and exc.filename else output
        raise OutputFolderError(f"{where}: cannot write the results there: {os_error_reason(exc)}") from None


def _same_detector(previous: dict[str, Any], info: dict[str, Any]) -> bool:
    meta = previous.get("detector_metadata") or {}
    try:
        floor = float(previous.get("trapblur_confidence_floor", 1.0))
    except (TypeError, ValueError):
        return False
    return (isinstance(meta, dict) and previous.get("detector") == info["detector"]
            and meta.get("model_name") == info["detector_metadata"]["model_name"]
            and meta.get("image_size") == info["detector_metadata"]["image_size"]
            and floor <= info["trapblur_confidence_floor"]
            # older results do not say which frame their boxes are in: not exact, so not reused
            and is_frame_marker(previous.get(FRAME_MARKER_KEY)))


def _reusable(path: Path, info: dict[str, Any], files: list[tuple[str, Path]], *, strict: bool,
              workers: int | None) -> tuple[dict[str, ImageEntry], dict[str, str]]:
    """Entries of the earlier results at ``path`` that still hold, and the hashes they were made from.

    An entry holds when the same model and settings made it and the image's bytes still hash to what the
    results recorded (results without hashes, from older versions or other tools, hold for no image).
    Failures are tried again. Results from another model are ignored, or refused when ``strict`` (a
    checkpoint: mixing two models in one file would be wrong).
    """
    try:
        previous = read_results(path)
    except ResultsFormatError as exc:
        log.warning("not reusing %s (%s)", path, exc)
        return {}, {}
    if not _same_detector(previous.info, info):
        if strict:
            raise OutputFolderError(
                f"{path}: a checkpoint made with another model or settings ({previous.info.get('detector')}); "
                "delete it or pass resume=False to start again"
            )
        log.info("%s was made by another model or with other settings: detecting every image again", path)
        return {}, {}
    recorded = content_map(previous.info)
    entries = {e.file: e for e in previous.images if e.processed}
    same = unchanged(recorded, [(rel, p) for rel, p in files if rel in entries], workers)
    return {rel: entries[rel] for rel in same}, {rel: recorded[rel] for rel in same}


# ----------------------------------------------------------------------------------------------------------
# The streaming loop


def run_model(
    loaded: LoadedModel,
    files: Iterable[tuple[str, Path]],
    *,
    confidence_floor: float = DEFAULT_CONFIDENCE_FLOOR,
    batch_size: int | None = None,
    workers: int | None = None,
) -> Iterator[tuple[ImageEntry, str | None, str | None]]:
    """Yield ``(entry, failure reason or None, SHA-256 of the bytes decoded or None)`` per image.

    Images are read and decoded ahead of inference in threads.
    """
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    if batch_size is None:
        batch_size = 1 if loaded.device == "cpu" else 8
    if loaded.max_batch is not None:
        batch_size = min(batch_size, loaded.max_batch)
    size: int | tuple[int, int] = loaded.fixed_input or loaded.image_size
    mapping = loaded.mapping
    num_classes = max(loaded.names) + 1

    def prepare(relative: str, path: Path) -> _Prepared:
        try:
            try:
                data = read_input(path)
                # A PNG's oversized metadata chunks would make the decoders refuse it (see trapblur.png).
                decodable = png.for_decoders(data) if data.startswith(png.SIGNATURE) else data
            except OSError as exc:
                raise ImageError(f"{path}: cannot be read ({os_error_reason(exc)})") from None
            except ImageError as exc:
                raise ImageError(f"{path}: {exc}") from None
            image = read_upright(path, min_long_side=loaded.image_size, data=decodable)
            return _Prepared(relative, letterbox(image, size, stride=loaded.stride, mode=loaded.letterbox_mode),
                             sha256=digest_bytes(data))
        except ImageError as exc:
            return _Prepared(relative, None, str(exc))
        except Exception as exc:  # noqa: BLE001 - any decoder crash is this image's failure, not the batch's
            return _Prepared(relative, None, f"{path}: cannot be decoded ({type(exc).__name__}: {exc})")

    def infer(batch: list[_Prepared]) -> Iterator[tuple[ImageEntry, str | None]]:
        try:
            tensor = to_tensor_layout([p.letterboxed.array for p in batch], rgb=loaded.rgb_scaled,
                                      scale=loaded.rgb_scaled)
            output = loaded.forward(tensor)
            decoded = postprocess.decode(output, loaded.layout, mapping, num_classes=num_classes,
                                         input_hw=tensor.shape[2:], conf_floor=confidence_floor,
                                         iou_threshold=loaded.iou_threshold)
        except Exception as exc:  # noqa: BLE001 - the batch fails, the run goes on
            reason = f"inference failed ({type(exc).__name__}: {exc})"
            log.error("%s on %s", reason, ", ".join(p.relative for p in batch))
            for p in batch:
                yield ImageEntry(p.relative, None, FAILURE_INFER), f"{p.relative}: {reason}", None
            return
        for p, candidates in zip(batch, decoded):
            yield _entry(p, candidates), None, p.sha256

    pending: deque[Future[_Prepared]] = deque()
    iterator = iter(files)
    window = workers + 2 * batch_size
    batch: list[_Prepared] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trapblur-decode") as pool:

        def refill() -> None:
            while len(pending) < window:
                item = next(iterator, None)
                if item is None:
                    return
                pending.append(pool.submit(prepare, *item))

        refill()
        while pending:
            prepared = pending.popleft().result()
            refill()
            if prepared.letterboxed is None:
                log.warning("%s", prepared.failure)
                yield ImageEntry(prepared.relative, None, FAILURE_IMAGE), prepared.failure, None
                continue
            if batch and (len(batch) >= batch_size
                          or batch[0].letterboxed.array.shape != prepared.letterboxed.array.shape):
                yield from infer(batch)
                batch = []
            batch.append(prepared)
        if batch:
            yield from infer(batch)


# ----------------------------------------------------------------------------------------------------------
# On a Dask cluster (trapblur.cluster): the same run_model, on the workers


@dataclass(frozen=True)
class RemoteModel:
    """What a worker needs to load the run's model and run it: the user's arguments, resolved there."""

    model: str | None
    device: str | None
    image_size: int | None
    backend: str
    confidence_floor: float
    batch_size: int | None
    workers: int | None


@dataclass(frozen=True)
class WorkerModel:
    """Which model a worker ran, to check it is the one this machine loaded."""

    name: str
    filename: str
    image_size: int
    backend: str


def detect_files(files: Sequence[tuple[str, Path]], cache: Any, request: RemoteModel
                 ) -> tuple[list[tuple[ImageEntry, str | None]], WorkerModel]:
    """One task of detection on a worker: the model comes from the worker's cache (loaded once per worker
    process), on the device asked for, else the GPU the worker declares, else the loader's default."""
    device = request.device or cache.gpu_device
    key = ("model", request.model, device, request.image_size, request.backend)

    def load() -> LoadedModel:
        try:
            return load_model(resolve_model(request.model), device=device, image_size=request.image_size,
                              backend=request.backend)
        except Exception as exc:  # noqa: BLE001 - a worker that cannot load the model stops the run
            raise ClusterError(f"a Dask worker cannot load the model {request.model or '(default)'}: {exc}") from None

    loaded = cache.get(key, load)
    found = list(run_model(loaded, files, confidence_floor=request.confidence_floor,
                           batch_size=request.batch_size, workers=request.workers))
    return found, WorkerModel(loaded.info.name, loaded.info.filename, loaded.image_size, loaded.backend)


def _run_on_cluster(client: Any, request: RemoteModel, loaded: LoadedModel, files: Sequence[tuple[str, Path]],
                    images_root: Path, info: dict[str, Any]) -> Iterator[tuple[ImageEntry, str | None, str | None]]:
    """Like :func:`run_model`, in the order tasks finish (the results are sorted when written). A task
    that could not run gives its images MegaDetector's "inference failure" (the blur withholds them)."""
    from ..cluster.running import map_tasks

    backends: set[str] = set()
    work = functools.partial(detect_files, request=request)
    for chunk, outcome in map_tasks(client, work, files, images_root, needs_gpu=True, name="detect"):
        if isinstance(outcome, TaskFailed):
            for relative, _ in chunk:
                yield ImageEntry(relative, None, FAILURE_INFER), f"{relative}: {outcome}", None
            continue
        found, ran = outcome
        if (ran.name, ran.filename, ran.image_size) != (loaded.info.name, loaded.info.filename, loaded.image_size):
            raise ClusterError(
                f"a Dask worker ran {ran.name} ({ran.filename}, {ran.image_size} px) where this machine loaded "
                f"{loaded.info.name} ({loaded.info.filename}, {loaded.image_size} px): install the same model on "
                "every worker, or pass the model's path on the shared storage"
            )
        if ran.backend not in backends:
            backends.add(ran.backend)
            if backends != {loaded.backend}:  # e.g. PyTorch on the workers' GPUs, ONNX here: say what ran
                info["detector_metadata"]["backend"] = "+".join(sorted(backends))
        yield from found


def _entry(prepared: _Prepared, candidates: postprocess.Candidates) -> ImageEntry:
    assert prepared.letterboxed is not None
    boxes = prepared.letterboxed.normalise(candidates.boxes) if len(candidates.boxes) else np.zeros((0, 4))
    # Rounded as the file holds them (3 and 4 decimals, like MegaDetector), so that thresholds act the same
    # on these Results in memory as on the written file read back.
    detections = tuple(
        Detection(category=category, conf=round(float(score), 3),
                  bbox=tuple(round(float(v), 4) for v in box))  # type: ignore[arg-type]
        for box, score, category in zip(boxes, candidates.scores, candidates.categories)
        if round(float(box[2]), 4) > 0 and round(float(box[3]), 4) > 0 and round(float(score), 3) > 0
    )
    return ImageEntry(prepared.relative, detections, None)
