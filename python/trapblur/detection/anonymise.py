"""One step: detect, then blur with the blurring core. What ``trapblur run`` calls.

The MegaDetector results the run used are kept *beside* the shareable folder, as ``<output>.detections.json``
(not inside it: the folder is what gets shared, and the file lists which images had people in them). The
core's own report and results for the new folder are inside it, as with ``trapblur blur``. A re-run reuses
those detections when they were made by the same model, with the same settings, for the same images (none modified since), and
otherwise resumes detection from its checkpoint.

Images the detector could not check get ``failure`` entries, which the core withholds (fail closed).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Sequence, Union

from ..errors import OptionsError, ResultsFormatError
from ..frames import FRAME_MARKER_KEY, is_frame_marker
from ..options import DEFAULT_THRESHOLD, BlurOptions, ThresholdArg
from ..pipeline import blur_dataset, check_folders
from ..report import RunReport
from ..results import Results, read_results
from .models import check_model_finds, resolve_model
from .runner import DEFAULT_CONFIDENCE_FLOOR, detect, list_images

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
    # The blur options are checked (and category names resolved) before anything slow starts.
    options = BlurOptions(threshold=threshold, strength=strength, padding=padding, shape=shape, method=method,
                          categories=(categories,) if isinstance(categories, str) else tuple(categories))
    images_root, output_root = check_folders(Path(images), Path(output))
    target = Path(detections_json) if detections_json is not None else detections_path_for(output_root)
    if target.resolve().is_relative_to(images_root):
        raise OptionsError(f"{target}: the detections file must not be written inside the image folder")
    if copy_unlisted:
        # Every image the core can edit is detected; an unlisted file is one nobody checked.
        log.warning("copy_unlisted: files detect did not look at (not images it reads) will be copied unchanged")
    info = resolve_model(model)
    if info.spec is not None:  # known before loading: refuse before anything is detected
        check_model_finds(options.categories, info.name, info.spec.categories)
    results = _reusable(target, images_root, model, device)
    if results is None:
        results = detect(images_root, model=model, output_json=target, device=device, batch_size=batch_size,
                         workers=workers, checkpoint_every=checkpoint_every, resume=True,
                         progress=detect_progress, categories=options.categories, client=client)
    elif info.spec is None:
        used = results.info.get("detector_metadata", {}).get("classes_used")
        if isinstance(used, dict):
            check_model_finds(options.categories, info.name, used.values())
    return blur_dataset(
        images_root, results, output_root, threshold=threshold, strength=strength, categories=categories,
        padding=padding, shape=shape, method=method, copy_unlisted=copy_unlisted,
        link_unchanged=link_unchanged, overwrite=overwrite, workers=workers, jpeg_mode=jpeg_mode,
        corrections=corrections, progress=progress, client=client,
    )


def _reusable(target: Path, images_root: Path, model: Any, device: str | None) -> Results | None:
    """The detections already in ``target`` when the same model made them for exactly these images."""
    if not target.is_file():
        return None
    try:
        previous = read_results(target)
    except ResultsFormatError as exc:
        log.warning("not reusing %s (%s)", target, exc)
        return None
    info = resolve_model(model)
    meta = previous.info.get("detector_metadata", {})
    same_model = (previous.info.get("detector") == info.filename and meta.get("model_name") == info.name
                  and previous.info.get("trapblur_confidence_floor") == DEFAULT_CONFIDENCE_FLOOR
                  and is_frame_marker(previous.info.get(FRAME_MARKER_KEY)))  # older ones: frame not exact
    files = list_images(images_root)
    same_images = {e.file for e in previous.images} == {rel for rel, _ in files}
    written = target.stat().st_mtime
    unchanged = same_images and all(path.stat().st_mtime < written for _, path in files)
    if same_model and unchanged:
        log.info("reusing detections in %s (made by %s)", target, info.filename)
        return previous
    log.info("detections in %s are for another model or other images; detecting again", target)
    return None

