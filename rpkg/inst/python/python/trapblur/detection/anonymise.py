"""One step: detect, then blur with the blurring core. What ``trapblur run`` calls.

The MegaDetector results the run used are kept *beside* the shareable folder, as ``<output>.detections.json``
(not inside it: the folder is what gets shared, and the file lists which images had people in them). The
core's own report and results for the new folder are inside it, as with ``trapblur blur``. A re-run reuses
those detections for every image whose bytes are unchanged (SHA-256, not modification times: an image replaced
by ``cp -p`` keeps its time) when they were made by the same model with the same settings, detects new and
changed images, and otherwise resumes detection from its checkpoint. The blurring step then redoes exactly the
images whose bytes or detections changed, and withholds any image whose bytes differ from those detected.

Images the detector could not check get ``failure`` entries, which the core withholds (fail closed).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Sequence, Union

from ..checks import check_callback, check_path, check_text, check_whole
from ..errors import OptionsError, TrapblurError
from ..options import DEFAULT_THRESHOLD, BlurOptions, ThresholdArg
from ..pipeline import RunSettings, check_folders, discard_unused_output, lock_output_folder, run_batch
from ..report import RunReport
from .models import check_model_finds, resolve_model
from .runner import detect

log = logging.getLogger(__name__)
PathLike = Union[str, "os.PathLike[str]"]
Progress = Callable[[int, int], None]


def detections_path_for(output: PathLike) -> Path:
    """Where ``anonymise`` keeps the detections for ``output``: ``<output>.detections.json`` beside it."""
    output = Path(output)
    return output.parent / f"{output.name}.detections.json"


def anonymise(
    images: PathLike,
    output: PathLike,
    *,
    model: PathLike | None = None,
    device: str | None = None,
    detections_json: PathLike | None = None,
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
    batch_size: int | None = None,
    checkpoint_every: int | None = 500,
    progress: Progress | None = None,
    detect_progress: Progress | None = None,
    client: Any = None,
) -> RunReport:
    """Detect people (and whatever else ``categories`` names) under ``images`` and write a blurred copy to
    ``output``. Returns the core's :class:`RunReport`.

    The blur options are :func:`trapblur.blur_dataset`'s. ``detections_json`` (default
    ``<output>.detections.json`` beside the output folder) keeps the MegaDetector results used.
    ``corrections`` is a reviewer's corrections CSV, applied on top of the detections as in
    :func:`trapblur.blur_dataset`.
    ``progress`` follows blurring, ``detect_progress`` detection; both are called from the calling thread.
    ``client`` (a ``distributed.Client`` or :class:`trapblur.cluster.Cluster`) runs both steps on that Dask
    cluster, as :func:`trapblur.detect` and :func:`trapblur.blur_dataset` do.

    Refuses (:class:`~trapblur.OptionsError`) before detecting when the model cannot find a requested
    category: the built-in person model finds no vehicles.
    """
    images_root, output_root = check_folders(check_path("images", images), check_path("output", output))
    given = check_path("detections_json", detections_json, none_ok=True)
    target = given if given is not None else detections_path_for(output_root)
    if target.resolve().is_relative_to(images_root):
        raise OptionsError(f"{target}: the detections file must not be written inside the image folder")
    # Every option is checked before detection starts, not after an hour of it.
    options = BlurOptions(threshold=threshold, strength=strength, categories=categories, padding=padding,
                          shape=shape, method=method)
    settings = RunSettings(copy_unlisted, link_unchanged, overwrite, workers, jpeg_mode)
    progress = check_callback("progress", progress)
    check_callback("detect_progress", detect_progress)
    check_whole("batch_size", batch_size, none_means="automatic")
    check_whole("checkpoint_every", checkpoint_every, none_means="no checkpoints")
    check_text("device", device, none_ok=True)
    if model is not None:
        check_path("model", model)
    if copy_unlisted:
        # Every image the core can edit is detected; an unlisted file is one nobody checked.
        log.warning("copy_unlisted: files detect did not look at (not images it reads) will be copied unchanged")
    corrections_path = check_path("corrections", corrections, none_ok=True)
    # Held from before detection to the end of blurring: a read-only, full or busy output folder is reported
    # before the hour of detection, and a second run cannot start in between.
    created = not output_root.exists()
    with lock_output_folder(output_root, options, settings) as lock:
        try:
            info = resolve_model(model)
            if info.spec is not None:  # known before loading: refuse before anything is detected
                check_model_finds(options.categories, info.name, info.spec.categories)
            results = detect(images_root, model=model, output_json=target, device=device, batch_size=batch_size,
                             workers=workers, checkpoint_every=checkpoint_every, resume=True,
                             progress=detect_progress, categories=options.categories, client=client)
        except TrapblurError:
            lock.release()
            if created:
                discard_unused_output(output_root)  # a refused start leaves nothing behind
            raise
        return run_batch(images_root, results, output_root, options, settings, progress,
                         corrections=corrections_path, lock=lock, client=client)


