"""MegaDetector batch-output files: read every variant users have into one small model, write format 1.5.

The model is three records: :class:`Results` holds :class:`ImageEntry` records, which hold
:class:`Detection` records. Categories are carried by *name* ("person", "animal", "vehicle"), never by the
numeric id of the file, because tools disagree on ids (PyTorch-Wildlife uses "1" for person, MegaDetector "2").

Variants read (see the field notes, section 1): format 1.0 to 1.6 with or without ``info.format_version``,
per-image ``max_detection_conf`` (ignored: it is derived), ``failure`` entries with ``detections`` null or
absent, animl-py's "3.0" files with an extra "empty" category and ``frame`` fields, and numeric category ids.

This module does no image I/O.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ResultsFormatError

#: Category ids MegaDetector itself writes; used when writing and for names a file does not define.
MEGADETECTOR_CATEGORIES: dict[str, str] = {"1": "animal", "2": "person", "3": "vehicle"}
WRITTEN_FORMAT_VERSION = "1.5"


@dataclass(frozen=True)
class Detection:
    """One box found in an image.

    ``bbox`` is ``(x_min, y_min, width, height)`` as fractions of the *upright* (EXIF-rotated) image,
    measured from its top-left corner, exactly as MegaDetector writes it.
    """

    category: str
    conf: float
    bbox: tuple[float, float, float, float]
    classifications: tuple[tuple[str, float], ...] = ()
    frame: int | None = None


@dataclass(frozen=True)
class ImageEntry:
    """What the detector said about one file. ``detections`` is None when it could not process the file."""

    file: str
    detections: tuple[Detection, ...] | None
    failure: str | None = None

    @property
    def processed(self) -> bool:
        """True when the detector looked at the image (an empty tuple then means it found nothing)."""
        return self.failure is None and self.detections is not None

    def max_conf(self, category: str) -> float | None:
        """Highest confidence of any detection of ``category``, or None if there is none."""
        confs = [d.conf for d in self.detections or () if d.category == category]
        return max(confs) if confs else None


@dataclass
class Results:
    """A whole results file."""

    images: list[ImageEntry]
    info: dict[str, Any] = field(default_factory=dict)
    classification_categories: dict[str, str] = field(default_factory=dict)
    source: Path | None = None

    @property
    def format_version(self) -> str | None:
        version = self.info.get("format_version")
        return None if version is None else str(version)

    @property
    def category_names(self) -> set[str]:
        return {d.category for entry in self.images for d in entry.detections or ()}


# ----------------------------------------------------------------------------------------------------------
# Reading


def read_results(path: str | os.PathLike[str]) -> Results:
    """Read a MegaDetector batch-output JSON file.

    Raises :class:`ResultsFormatError` naming the file, the image entry and the field when it is malformed.
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
    results.source = path
    return results


def results_from_dict(document: Any, source: str = "<results>") -> Results:
    """Build :class:`Results` from an already parsed MegaDetector document (a dict)."""
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
    images = [_read_image(raw, index, categories, source) for index, raw in enumerate(raw_images)]
    return Results(
        images=images,
        info=dict(info),
        classification_categories={str(k): str(v) for k, v in classification_categories.items()},
    )


def _read_categories(document: dict[str, Any], source: str) -> dict[str, str]:
    categories = document.get("detection_categories")
    if categories is None:
        raise ResultsFormatError(f"{source}: required field 'detection_categories' is missing")
    if not isinstance(categories, dict) or not all(isinstance(v, str) for v in categories.values()):
        raise ResultsFormatError(
            f"{source}: 'detection_categories' must map ids to names, like {{\"2\": \"person\"}}"
        )
    return {str(key): name.strip().lower() for key, name in categories.items()}


def _read_image(raw: Any, index: int, categories: Mapping[str, str], source: str) -> ImageEntry:
    where = f"{source}: images[{index}]"
    if not isinstance(raw, dict):
        raise ResultsFormatError(f"{where} must be an object, not {_kind(raw)}")
    file = raw.get("file")
    if not isinstance(file, str) or not file:
        raise ResultsFormatError(f"{where}: 'file' must be a non-empty string, got {file!r}")
    where = f"{where} ({file!r})"
    failure = raw.get("failure")
    if failure is not None and not isinstance(failure, str):
        failure = str(failure)
    raw_detections = raw.get("detections")
    if raw_detections is None:
        # MegaDetector writes null (or nothing) when it failed; a missing list without a failure is
        # still "not looked at", never "nothing found".
        return ImageEntry(file=file, detections=None, failure=failure or "no detections in results")
    if not isinstance(raw_detections, list):
        raise ResultsFormatError(f"{where}: 'detections' must be a list or null, not {_kind(raw_detections)}")
    detections = tuple(
        _read_detection(d, f"{where}: detections[{j}]", categories) for j, d in enumerate(raw_detections)
    )
    return ImageEntry(file=file, detections=None if failure else detections, failure=failure)


def _read_detection(raw: Any, where: str, categories: Mapping[str, str]) -> Detection:
    if not isinstance(raw, dict):
        raise ResultsFormatError(f"{where} must be an object, not {_kind(raw)}")
    category_id = raw.get("category")
    if isinstance(category_id, bool) or not isinstance(category_id, (str, int)):
        raise ResultsFormatError(f"{where}: 'category' must be a category id string, got {category_id!r}")
    name = categories.get(str(category_id))
    if name is None:
        known = ", ".join(f"{k}={v}" for k, v in categories.items())
        raise ResultsFormatError(
            f"{where}: category {category_id!r} is not in detection_categories ({known})"
        )
    conf = raw.get("conf")
    if not _is_number(conf) or not 0.0 <= conf <= 1.0 + 1e-6:
        raise ResultsFormatError(f"{where}: 'conf' must be a number between 0 and 1, got {conf!r}")
    bbox = raw.get("bbox")
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
        raise ResultsFormatError(f"{where}: 'bbox' must be 4 numbers [x, y, width, height], got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    if w < 0 or h < 0:
        raise ResultsFormatError(f"{where}: 'bbox' width and height must not be negative, got {bbox!r}")
    frame = raw.get("frame", raw.get("frame_number"))
    return Detection(
        category=name,
        conf=min(float(conf), 1.0),
        bbox=(x, y, w, h),
        classifications=_read_classifications(raw.get("classifications")),
        frame=frame if isinstance(frame, int) and not isinstance(frame, bool) else None,
    )


def _read_classifications(raw: Any) -> tuple[tuple[str, float], ...]:
    if not isinstance(raw, list):
        return ()
    pairs = []
    for item in raw:
        if isinstance(item, (list, tuple)) and len(item) == 2 and _is_number(item[1]):
            pairs.append((str(item[0]), float(item[1])))
    return tuple(pairs)


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._temporary = self.path.with_name(f".{self.path.name}.writing.partial")
        self._stream = self._temporary.open("w", encoding="utf-8")
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
        return {"file": entry.file, "failure": entry.failure or "unknown failure", "detections": None}
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
