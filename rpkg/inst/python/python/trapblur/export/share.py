"""Read a finished shareable folder: which images it holds, what was done to each, and the run's settings.

Both exports start here, so that they agree on one rule: **only images the report lists as written
(blurred or copied) and that are still in the folder are exported.** Withheld and failed images, files the
report does not mention (something a person dropped into the folder later) and anything outside the folder
are never read. Every image is read from the shareable copy; the originals are never opened (their folder is
not even known here).

What is read:

* ``.trapblur/run.json``: the run must be complete; its fingerprint gives the thresholds used (the
  categories blurred are its keys).
* ``trapblur_report.csv``: one row per image, read by column name (``input``, ``output``, ``action``,
  ``reason``, ``max_person_conf``); other columns, including ones later versions add, are ignored.
* ``trapblur_results.json``: the MegaDetector file of the shareable folder, for the detections of each
  written image and the detector's name.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import ExportError, ResultsFormatError
from ..options import DEFAULT_THRESHOLD
from ..pipeline import REPORT_NAME, RESULTS_NAME, STATE_FOLDER
from ..report import WRITTEN_ACTIONS
from ..results import Detection, ImageEntry, read_results

log = logging.getLogger(__name__)

#: Category names that mean a person, whatever the detector called them.
PERSON_NAMES = frozenset({"person", "human", "people"})


@dataclass(frozen=True)
class SharedImage:
    """An image the shareable folder holds, with what trapblur did to it."""

    relative: str  # POSIX path inside the shareable folder (the same as in the original folder)
    path: Path
    action: str  # "blurred" or "copied"
    detections: tuple[Detection, ...] | None  # None when the image had no results (copied by copy_unlisted)
    max_person_conf: float | None = None

    @property
    def blurred(self) -> bool:
        return self.action == "blurred"

    @property
    def folder(self) -> str:
        return posixpath.dirname(self.relative)

    @property
    def checked(self) -> bool:
        """False for images copied without results (``copy_unlisted``): nobody looked for people in them."""
        return self.detections is not None

    def person_conf(self) -> float | None:
        """The highest person confidence the detector gave this image, or None if it found no person."""
        confs = [d.conf for d in self.detections or () if d.category in PERSON_NAMES]
        if self.max_person_conf is not None:
            confs.append(self.max_person_conf)
        return max(confs) if confs else None


@dataclass(frozen=True)
class NotShared:
    """A report row the shareable folder does not hold: withheld, failed, missing, ... and why."""

    relative: str
    action: str
    reason: str


@dataclass
class Share:
    """What a finished trapblur output folder holds."""

    root: Path
    images: list[SharedImage]
    not_shared: list[NotShared]
    thresholds: dict[str, float]
    detector: str = ""
    results_info: dict[str, Any] = field(default_factory=dict)

    @property
    def blurred_categories(self) -> tuple[str, ...]:
        return tuple(self.thresholds)

    def threshold_for(self, category: str) -> float:
        """The run's threshold for ``category``; the default one when the run did not blur that category."""
        return self.thresholds.get(category, DEFAULT_THRESHOLD)


def read_share(folder: str | os.PathLike[str]) -> Share:
    """Read the shareable folder ``folder`` that ``trapblur blur`` / ``run`` finished writing."""
    root = Path(folder)
    if not root.is_dir():
        raise ExportError(f"{root}: shareable folder not found (give the output folder a trapblur blur or run wrote)")
    root = root.resolve()
    run = _read_run_settings(root / STATE_FOLDER / "run.json")
    thresholds = _thresholds(run, root / STATE_FOLDER / "run.json")
    entries, info = _read_output_results(root / RESULTS_NAME)
    images: list[SharedImage] = []
    not_shared: list[NotShared] = []
    for row in _read_report_rows(root / REPORT_NAME):
        relative, action, reason = row["input"], row["action"], row.get("reason", "")
        if action not in WRITTEN_ACTIONS:
            not_shared.append(NotShared(relative, action, reason))
            continue
        output = row.get("output") or relative
        path, problem = _inside(root, output)
        if problem:
            not_shared.append(NotShared(relative, "missing", problem))
            continue
        entry = entries.get(output)
        detections = entry.detections if entry is not None and entry.processed else None
        images.append(SharedImage(output, path, action, detections, _conf(row.get("max_person_conf"))))
    return Share(root, images, not_shared, thresholds, str(info.get("detector") or ""), info)


def _read_run_settings(path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        raise ExportError(
            f"{path.parent.parent}: not a trapblur output folder ({STATE_FOLDER}/run.json is missing); "
            "give the output folder a trapblur blur or run wrote"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(document, dict) or not document.get("complete"):
        raise ExportError(
            f"{path.parent.parent}: the trapblur run that writes this folder did not finish; "
            "run the same trapblur command again to complete it, then export"
        )
    return document


def _thresholds(run: Mapping[str, Any], path: Path) -> dict[str, float]:
    options = (run.get("fingerprint") or {}).get("options") or {}
    thresholds = options.get("thresholds")
    if not isinstance(thresholds, dict) or not thresholds:
        raise ExportError(f"{path}: no thresholds recorded (fingerprint.options.thresholds)")
    try:
        return {str(k): float(v) for k, v in thresholds.items()}
    except (TypeError, ValueError):
        raise ExportError(f"{path}: thresholds must be numbers, got {thresholds!r}") from None


def _read_output_results(path: Path) -> tuple[dict[str, ImageEntry], dict[str, Any]]:
    try:
        results = read_results(path)
    except ResultsFormatError as exc:
        raise ExportError(f"the shareable folder's results cannot be used: {exc}") from None
    return {entry.file: entry for entry in results.images}, results.info


def _read_report_rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            missing = {"input", "action"} - set(reader.fieldnames or ())
            if missing:
                raise ExportError(f"{path}: the report has no column {', '.join(sorted(missing))}")
            return [row for row in reader]
    except FileNotFoundError:
        raise ExportError(f"{path}: the report is missing; was the run finished?") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ExportError(f"{path}: cannot be read ({exc})") from None


def _inside(root: Path, relative: str) -> tuple[Path, str]:
    """The file ``relative`` names inside ``root``, or why it cannot be exported."""
    normal = posixpath.normpath(relative.replace("\\", "/"))
    if normal.startswith(("../", "/")) or normal == "..":
        return root, "listed with a path outside the shareable folder: not read"
    path = root / normal
    if path.is_symlink() or not path.is_file():
        return path, "listed as written, but no such file is in the shareable folder"
    if not path.resolve().is_relative_to(root):
        return path, "its folder links outside the shareable folder: not read"
    return path, ""


def _conf(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None
