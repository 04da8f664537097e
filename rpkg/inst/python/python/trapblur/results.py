"""MegaDetector batch-output files: read every variant users have into one small model, write format 1.5.

The model is three records: :class:`Results` holds :class:`ImageEntry` records, which hold
:class:`Detection` records. Categories are carried by *name* ("person", "animal", "vehicle"), never by the
numeric id of the file, because tools disagree on ids (PyTorch-Wildlife uses "1" for person, MegaDetector "2").

Variants read (see the field notes, section 1): format 1.0 to 1.6 with or without ``info.format_version``,
per-image ``max_detection_conf`` (ignored: it is derived), ``failure`` entries with ``detections`` null or
absent, animl-py's "3.0" files with an extra "empty" category and ``frame`` fields, and numeric category ids.

Names are canonical (:mod:`trapblur.categories`): a file that calls people "Human" or "people" gives
``person`` detections. A fault inside one image's entry (a null ``bbox``, a ``conf`` of 7, an unknown
category id) marks that entry with a ``problem`` instead of refusing the whole file; only faults of the file
itself (not JSON, not an object, no ``detection_categories`` or ``images``) raise :class:`ResultsFormatError`.

This module does no image I/O.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .atomic import temporary_beside
from .categories import canonical_category
from .errors import ResultsFormatError

#: Category ids MegaDetector itself writes; used when writing and for names a file does not define.
MEGADETECTOR_CATEGORIES: dict[str, str] = {"1": "animal", "2": "person", "3": "vehicle"}
WRITTEN_FORMAT_VERSION = "1.5"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detection:
    """One box found in an image.

    ``bbox`` is ``(x_min, y_min, width, height)`` as fractions of the *upright* (EXIF-rotated) image,
    measured from its top-left corner, exactly as MegaDetector writes it.

    ``category`` is always the canonical name (:func:`~trapblur.categories.canonical_category`: "human"
    becomes "person"), whoever builds the record. ``classifications`` keeps a classifier's ``(id, conf)``
    pairs as the file writes them; ``classified_as`` holds the same pairs by canonical *name*, so that a box
    a species classifier calls "human" or "homo sapiens" counts as a person (see :meth:`conf_as`).
    """

    category: str
    conf: float
    bbox: tuple[float, float, float, float]
    classifications: tuple[tuple[str, float], ...] = ()
    frame: int | None = None
    classified_as: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "category", canonical_category(self.category))
        if self.classified_as:
            object.__setattr__(
                self, "classified_as", tuple((canonical_category(n), float(p)) for n, p in self.classified_as)
            )

    def conf_as(self, category: str) -> float | None:
        """How confident the results are that this box shows ``category`` (canonical), or None if they
        never say so.

        The detection's own ``conf`` when its category is ``category``. Otherwise, when a classification of
        the box names ``category``, the lower of the detection's and the classification's confidence (both
        the detector and the classifier must reach a threshold), so a person an animal detector boxed and a
        species classifier recognised is treated as a person.
        """
        best = self.conf if self.category == category else None
        for name, probability in self.classified_as:
            if name == category:
                value = min(self.conf, probability)
                best = value if best is None or value > best else best
        return best


@dataclass(frozen=True)
class ImageEntry:
    """What the detector said about one file.

    ``detections`` is None when the results cannot be used for this file: the detector could not process
    it (``failure``), or the entry itself is malformed (``problem`` says where and what, e.g.
    ``images[12] ('a.jpg'): detections[0]: 'bbox' must be 4 numbers``). A malformed entry fails its image,
    never the whole file. An entry too broken to name a file has ``file == ""``.
    """

    file: str
    detections: tuple[Detection, ...] | None
    failure: str | None = None
    problem: str | None = None

    @property
    def processed(self) -> bool:
        """True when the detector looked at the image (an empty tuple then means it found nothing)."""
        return self.failure is None and self.problem is None and self.detections is not None

    def max_conf(self, category: str) -> float | None:
        """Highest confidence that any detection shows ``category`` (see :meth:`Detection.conf_as`)."""
        confs = [c for d in self.detections or () if (c := d.conf_as(category)) is not None]
        return max(confs) if confs else None


@dataclass
class Results:
    """A whole results file.

    ``detection_categories`` maps the file's category ids to its names as written (``{"0": "Human"}``);
    detections carry the canonical names. Results built in memory may leave it empty: see
    :attr:`declared_categories`.
    """

    images: list[ImageEntry]
    info: dict[str, Any] = field(default_factory=dict)
    classification_categories: dict[str, str] = field(default_factory=dict)
    source: Path | None = None
    detection_categories: dict[str, str] = field(default_factory=dict)

    @property
    def format_version(self) -> str | None:
        version = self.info.get("format_version")
        return None if version is None else str(version)

    @property
    def category_names(self) -> set[str]:
        return {d.category for entry in self.images for d in entry.detections or ()}

    @property
    def declared_categories(self) -> dict[str, str]:
        """The categories these results can name: the file's ``detection_categories``, or, for results
        built in memory without them, MegaDetector's three plus any name a detection uses."""
        if self.detection_categories:
            return dict(self.detection_categories)
        return category_ids(self.category_names)


# ----------------------------------------------------------------------------------------------------------
# Reading


def read_results(path: str | os.PathLike[str]) -> Results:
    """Read a MegaDetector batch-output JSON file.

    Raises :class:`ResultsFormatError` naming the file when the file as a whole is unusable. A malformed
    image entry is kept with its ``problem`` (naming the entry's index and the field), so that one bad
    entry among thousands fails one image, not the run.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise ResultsFormatError(f"{path}: results file not found") from None
    except IsADirectoryError:
        raise ResultsFormatError(f"{path}: is a folder, not a results file") from None
    except UnicodeDecodeError as exc:
        raise ResultsFormatError(f"{path}: not a text JSON file ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ResultsFormatError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except OSError as exc:
        raise ResultsFormatError(f"{path}: cannot be read ({exc.strerror})") from None
    results = results_from_dict(document, source=str(path))
    problems = sum(1 for entry in results.images if entry.problem)
    if problems:
        log.info("%s: %d of %d image entries are malformed; their images will fail", path, problems,
                    len(results.images))
    results.source = path
    return results


def results_from_dict(document: Any, source: str = "<results>") -> Results:
    """Build :class:`Results` from an already parsed MegaDetector document (a dict).

    Faults of the file as a whole (not an object, no ``detection_categories`` or ``images``, fields of the
    wrong type) raise :class:`ResultsFormatError`. A fault inside one image's entry does not: that entry
    gets a ``problem`` and no detections, so its image fails and the rest of the dataset goes on.
    """
    if not isinstance(document, dict):
        raise ResultsFormatError(f"{source}: the top level must be a JSON object, not {_kind(document)}")
    categories = _read_categories(document, source)
    raw_images = document.get("images")
    if raw_images is None:
        raise ResultsFormatError(f"{source}: required field 'images' is missing")
    if not isinstance(raw_images, list):
        raise ResultsFormatError(f"{source}: 'images' must be a list, not {_kind(raw_images)}")
    info = document.get("info") or {}
    if not isinstance(info, dict):
        raise ResultsFormatError(f"{source}: 'info' must be an object, not {_kind(info)}")
    classification_categories = document.get("classification_categories") or {}
    if not isinstance(classification_categories, dict):
        raise ResultsFormatError(f"{source}: 'classification_categories' must be an object")
    classes = {str(k): str(v) for k, v in classification_categories.items()}
    canonical = {key: canonical_category(name) for key, name in categories.items()}
    images = [_read_image(raw, index, canonical, classes) for index, raw in enumerate(raw_images)]
    return Results(
        images=images,
        info=dict(info),
        classification_categories=classes,
        detection_categories=categories,
    )


def _read_categories(document: dict[str, Any], source: str) -> dict[str, str]:
    categories = document.get("detection_categories")
    if categories is None:
        raise ResultsFormatError(f"{source}: required field 'detection_categories' is missing")
    if not isinstance(categories, dict) or not all(isinstance(v, str) for v in categories.values()):
        raise ResultsFormatError(
            f"{source}: 'detection_categories' must map ids to names, like {{\"2\": \"person\"}}"
        )
    return {str(key): name.strip() for key, name in categories.items()}


class _EntryFault(Exception):
    """Something wrong inside one image's entry; becomes that entry's ``problem``."""


def _read_image(raw: Any, index: int, categories: Mapping[str, str], classes: Mapping[str, str]) -> ImageEntry:
    where = f"images[{index}]"
    if not isinstance(raw, dict):
        return ImageEntry(file="", detections=None, problem=f"{where} must be an object, not {_kind(raw)}")
    file = raw.get("file")
    if not isinstance(file, str) or not file.strip():
        return ImageEntry(file="", detections=None,
                          problem=f"{where}: 'file' must be a non-empty string, got {file!r}")
    where = f"{where} ({file!r})"
    try:
        return _read_entry(raw, file, where, categories, classes)
    except _EntryFault as fault:
        return ImageEntry(file=file, detections=None, problem=str(fault))


def _read_entry(raw: dict[str, Any], file: str, where: str, categories: Mapping[str, str],
                classes: Mapping[str, str]) -> ImageEntry:
    failure = raw.get("failure")
    if failure is not None and not isinstance(failure, str):
        failure = str(failure)
    raw_detections = raw.get("detections")
    if raw_detections is None:
        # MegaDetector writes null (or nothing) when it failed; a missing list without a failure is
        # still "not looked at", never "nothing found".
        return ImageEntry(file=file, detections=None, failure=failure or "no detections in results")
    if failure:
        return ImageEntry(file=file, detections=None, failure=failure)
    if not isinstance(raw_detections, list):
        raise _EntryFault(f"{where}: 'detections' must be a list or null, not {_kind(raw_detections)}")
    detections = tuple(
        _read_detection(d, f"{where}: detections[{j}]", categories, classes) for j, d in enumerate(raw_detections)
    )
    return ImageEntry(file=file, detections=detections, failure=failure)


def _read_detection(raw: Any, where: str, categories: Mapping[str, str], classes: Mapping[str, str]) -> Detection:
    if not isinstance(raw, dict):
        raise _EntryFault(f"{where} must be an object, not {_kind(raw)}")
    category_id = raw.get("category")
    if isinstance(category_id, bool) or not isinstance(category_id, (str, int)):
        raise _EntryFault(f"{where}: 'category' must be a category id string, got {category_id!r}")
    name = categories.get(str(category_id))
    if name is None:
        known = ", ".join(f"{k}={v}" for k, v in categories.items())
        raise _EntryFault(f"{where}: category {category_id!r} is not in detection_categories ({known})")
    conf = raw.get("conf")
    if not _is_number(conf) or not 0.0 <= conf <= 1.0 + 1e-6:
        raise _EntryFault(f"{where}: 'conf' must be a number between 0 and 1, got {conf!r}")
    bbox = raw.get("bbox")
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
        raise _EntryFault(f"{where}: 'bbox' must be 4 numbers [x, y, width, height], got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    if w < 0 or h < 0:
        raise _EntryFault(f"{where}: 'bbox' width and height must not be negative, got {bbox!r}")
    frame = raw.get("frame", raw.get("frame_number"))
    pairs, named = _read_classifications(raw.get("classifications"), where, classes)
    return Detection(
        category=name,
        conf=min(float(conf), 1.0),
        bbox=(x, y, w, h),
        classifications=pairs,
        frame=frame if isinstance(frame, int) and not isinstance(frame, bool) else None,
        classified_as=named,
    )


def _read_classifications(
    raw: Any, where: str, classes: Mapping[str, str]
) -> tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]:
    """``(id, conf)`` pairs as written, and the same by class name.

    Malformed classifications fail the entry rather than being dropped: one of them may be the classifier
    saying "human", and a dropped "human" is a person left unblurred.
    """
    if raw is None:
        return (), ()
    if not isinstance(raw, list):
        raise _EntryFault(f"{where}: 'classifications' must be a list of [id, conf] pairs, not {_kind(raw)}")
    pairs, named = [], []
    for k, item in enumerate(raw):
        ok = (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], (str, int))
              and not isinstance(item[0], bool) and _is_number(item[1]) and 0.0 <= item[1] <= 1.0 + 1e-6)
        if not ok:
            raise _EntryFault(f"{where}: classifications[{k}] must be [class id, conf between 0 and 1], got {item!r}")
        class_id, probability = str(item[0]), min(float(item[1]), 1.0)
        if class_id not in classes:
            raise _EntryFault(f"{where}: classification {class_id!r} is not in classification_categories")
        pairs.append((class_id, probability))
        named.append((classes[class_id], probability))
    return tuple(pairs), tuple(named)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(type(value), type(value).__name__)


# ----------------------------------------------------------------------------------------------------------
# Writing


def category_ids(names: set[str]) -> dict[str, str]:
    """MegaDetector's ids for animal/person/vehicle, then new ids for any other names, in name order."""
    ids = dict(MEGADETECTOR_CATEGORIES)
    for name in sorted(names - set(ids.values())):
        ids[str(max(int(k) for k in ids) + 1)] = name
    return ids


class ResultsWriter:
    """Writes a MegaDetector format-1.5 file one image at a time (atomically, on :meth:`close`).

    Memory stays flat however many images are written. Images appear in the order they are added.
    """

    def __init__(self, path: Path, info: Mapping[str, Any], categories: Mapping[str, str],
                 classification_categories: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        self._id_of = {name: key for key, name in categories.items()}
        handle, self._temporary = temporary_beside(self.path)
        # backslashreplace: a file name that is not valid UTF-8 (possible on Linux) is written as a JSON
        # escape (\udcXX), which JSON readers accept and Python reads back as the same name.
        self._stream = os.fdopen(handle, "w", encoding="utf-8", errors="backslashreplace")
        info = {**{k: v for k, v in info.items() if k != "format_version"}, "format_version": WRITTEN_FORMAT_VERSION}
        head = {"info": info, "detection_categories": dict(categories)}
        if classification_categories:
            head["classification_categories"] = dict(classification_categories)
        self._stream.write(json.dumps(head, indent=1, ensure_ascii=False)[:-2] + ',\n "images": [')
        self._count = 0

    def add(self, entry: ImageEntry) -> None:
        separator = "\n  " if self._count == 0 else ",\n  "
        self._stream.write(separator + json.dumps(_image_to_dict(entry, self._id_of), ensure_ascii=False))
        self._count += 1

    def close(self) -> None:
        self._stream.write("\n ]\n}\n")
        self._stream.close()
        os.replace(self._temporary, self.path)

    def discard(self) -> None:
        self._stream.close()
        self._temporary.unlink(missing_ok=True)


def _image_to_dict(entry: ImageEntry, id_of: Mapping[str, str]) -> dict[str, Any]:
    if not entry.processed:
        failure = entry.failure or entry.problem or "unknown failure"
        return {"file": entry.file, "failure": failure, "detections": None}
    detections = []
    for d in sorted(entry.detections or (), key=lambda d: -d.conf):
        item: dict[str, Any] = {
            "category": id_of[d.category],
            "conf": round(d.conf, 3),
            "bbox": [round(v, 4) for v in d.bbox],
        }
        if d.classifications:
            item["classifications"] = [[c, round(p, 3)] for c, p in d.classifications]
        if d.frame is not None:
            item["frame_number"] = d.frame
        detections.append(item)
    return {"file": entry.file, "detections": detections}


def write_results(
    results: Results, path: str | os.PathLike[str], info_updates: Mapping[str, Any] | None = None
) -> Path:
    """Write ``results`` as a MegaDetector format-1.5 file (images sorted by file), atomically."""
    writer = ResultsWriter(Path(path), {**results.info, **(info_updates or {})},
                           category_ids(results.category_names), results.classification_categories)
    try:
        for entry in sorted(results.images, key=lambda e: e.file):
            writer.add(entry)
    except BaseException:
        writer.discard()
        raise
    writer.close()
    return writer.path
