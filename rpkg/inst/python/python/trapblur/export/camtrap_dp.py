"""A Camtrap DP package whose media are the blurred copies: public where trapblur wrote them, private where not.

Input: a Camtrap DP 1.0 package describing the photographs trapblur blurred, and trapblur's shareable folder.
Output: a new package folder with

* ``media``: every row kept, with ``filePath`` pointing at the shareable copy, which is copied into the package
  (cleaned of GPS, serial numbers and maker notes, see :mod:`.metadata`), and ``filePublic`` true; rows whose
  image trapblur withheld or failed on get ``filePublic`` false and their file is not copied. Rows no image of
  the shareable folder matches are made private too (``unmatched="private"``, the default: nobody checked
  them for people), left as they are (``"keep"``), or refused (``"error"``).
* ``observations``: every row kept byte for byte; one row per person detection at or above the run's
  threshold added (``observationType`` human; vehicles too when the run blurred vehicles), with the box
  (normalised, upright frame, as the detector gave it), ``classificationMethod`` machine, ``classifiedBy``
  the detector and its confidence. ``project.observationLevel`` gains "media" when needed.
* ``deployments`` and every other resource copied unchanged; the package's description gains a paragraph
  saying what trapblur did.

How media rows are matched to images of the shareable folder (which mirrors the folder that was blurred):

1. A relative ``filePath`` by its trailing parts, longest first: ``media/cam1/IMG_1.JPG`` matches
   ``media/cam1/IMG_1.JPG``, else ``cam1/IMG_1.JPG``, else (when the shareable folder has only one image of
   that name) ``IMG_1.JPG``. So the package's media folder itself, or a folder above it, may have been blurred.
2. Otherwise (a URL, or no match) ``fileName``, when exactly one image of the shareable folder has that name.
3. Where the exact spelling matches nothing, letter case is ignored if that leaves exactly one image.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import posixpath
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union

from .._version import __version__
from ..atomic import copy_atomically, write_bytes_atomically
from ..errors import ImageError, OptionsError, PackageFormatError
from . import destination as dest
from .camtrap_package import TABLES, CamtrapPackage, header_with, is_url, parse_datetime, read_package, table_bytes
from .metadata import clean_file, is_sensitive
from .share import PERSON_NAMES, Share, SharedImage, read_share

log = logging.getLogger(__name__)

KIND = "camtrap-dp"
UNMATCHED_POLICIES = ("private", "keep", "error")
REPORT_COLUMNS = ("mediaID", "filePath", "image", "outcome", "filePublic", "observations_added", "reason")
PathLike = Union[str, "os.PathLike[str]"]
_OBSERVATION_COLUMNS = ("observationID", "deploymentID", "mediaID", "eventStart", "eventEnd", "observationLevel",
                        "observationType", "count", "bboxX", "bboxY", "bboxWidth", "bboxHeight",
                        "classificationMethod", "classifiedBy", "classificationTimestamp",
                        "classificationProbability", "observationTags", "observationComments")


@dataclass(frozen=True)
class CamtrapOptions:
    unmatched: str = "private"

    def __post_init__(self) -> None:
        if self.unmatched not in UNMATCHED_POLICIES:
            raise OptionsError(f"unmatched must be one of {', '.join(UNMATCHED_POLICIES)}, not {self.unmatched!r}")


@dataclass
class CamtrapExport:
    """What :func:`export_camtrap_dp` returns."""

    output: str
    datapackage: str
    report_csv: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("public", "not public", "unmatched", "not in package"), 0))
    observations_added: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every media row was matched and made public."""
        return self.counts["not public"] == 0 and self.counts["unmatched"] == 0

    def summary(self) -> str:
        c = self.counts
        lines = [
            f"{c['public']} media public (blurred or unchanged copies), {c['not public']} not public "
            f"(withheld or failed: filePublic false, file not copied), {c['unmatched']} media rows matched no "
            "image of the shareable folder",
            f"{self.observations_added} human/vehicle observations added; "
            f"{c['not in package']} images of the shareable folder are not in the package",
        ]
        lines += [f"  {count:>6} x {reason}" for reason, count in sorted(self.reasons.items(), key=lambda i: -i[1])[:8]]
        lines.append(f"package: {self.datapackage}\nreport: {self.report_csv}")
        return "\n".join(lines) + "\n"


def export_camtrap_dp(
    share: PathLike, package: PathLike, out: PathLike, *, unmatched: str = "private",
) -> CamtrapExport:
    """Write a Camtrap DP package to ``out`` whose media are the shareable folder's copies.

    ``share`` is the ``--out`` folder of ``trapblur blur`` / ``run``; ``package`` the ``datapackage.json`` of a
    Camtrap DP package describing the images that were blurred (raises :class:`PackageFormatError` naming
    the file, row and field when it is not valid); ``out`` a new folder (an earlier Camtrap DP export there is
    replaced). ``unmatched``: what to do with media rows no image of the shareable folder matches:
    "private" (default: filePublic false), "keep" (unchanged) or "error". See
    :mod:`trapblur.export.camtrap_dp` for the matching rules.
    """
    options = CamtrapOptions(unmatched)
    return run_camtrap_export(read_share(share), read_package(package), Path(out), options)


def run_camtrap_export(share: Share, package: CamtrapPackage, out: Path, options: CamtrapOptions) -> CamtrapExport:
    started = time.perf_counter()
    target = dest.check_destination(out, share.root, KIND)
    if package.folder.resolve() == target or package.folder.resolve().is_relative_to(target):
        raise PackageFormatError(f"{out}: the new package must not be written over the input package {package.folder}")
    report_path = target.parent / f"{target.name}.report.csv"
    result = CamtrapExport(str(target), str(target / "datapackage.json"), str(report_path))
    matcher = _Matcher(share)
    media = package.tables["media"]
    observations = package.tables["observations"]
    existing_ids = {row.get("observationID", "") for row in observations.rows}
    new_observations: list[dict[str, str]] = []
    report_rows: list[dict[str, Any]] = []
    used_images: set[str] = set()
    written_paths: dict[str, str] = {}
    detector = share.detector or "a MegaDetector-format detector"

    staging = dest.start(target)
    try:
        media_rows = []
        for number, row in enumerate(media.rows, start=2):
            row = dict(row)
            image, status = matcher.find(row)
            entry = {"mediaID": row.get("mediaID", ""), "filePath": row.get("filePath", ""), "image": "",
                     "observations_added": 0, "reason": ""}
            if isinstance(image, SharedImage):
                used_images.add(image.relative)
                entry["image"] = image.relative
                new_path = _new_file_path(row, image)
                previous = written_paths.get(new_path)
                if previous is not None and previous != image.relative:
                    raise PackageFormatError(f"{media.path}: row {number}, field 'filePath': two media rows "
                                             f"would both be written to {new_path}")
                try:
                    if previous is None:
                        cleaned = clean_file(image.path.read_bytes())
                        write_bytes_atomically(staging / new_path, cleaned.data)
                    written_paths[new_path] = image.relative
                    row["filePath"], row["filePublic"] = new_path, "true"
                    entry["outcome"] = image.action
                    if not image.checked:
                        entry["reason"] = "copied without detector results (copy_unlisted): not checked for people"
                    added = _observations_for(row, image, share, detector, existing_ids)
                    new_observations += added
                    entry["observations_added"] = len(added)
                except (ImageError, OSError) as exc:
                    row["filePublic"] = "false"
                    entry["outcome"], entry["reason"] = "not public", f"cannot be cleaned of metadata: {exc}"
            elif status is not None:  # in the report, but not written
                entry["image"] = status.relative
                used_images.add(status.relative)
                row["filePublic"] = "false"
                entry["outcome"], entry["reason"] = "not public", f"{status.action}: {status.reason}"
            else:
                if options.unmatched == "error":
                    raise PackageFormatError(
                        f"{media.path}: row {number} (mediaID {row.get('mediaID')!r}): no image of the shareable "
                        f"folder {share.root} matches filePath {row.get('filePath')!r} or fileName "
                        f"{row.get('fileName')!r}"
                    )
                if options.unmatched == "private":
                    row["filePublic"] = "false"
                entry["outcome"] = "unmatched"
                entry["reason"] = "no image of the shareable folder matches: " + (
                    "made private (not checked for people)" if options.unmatched == "private" else "kept as it was")
            row["exifData"] = _clean_exif_data(row.get("exifData"))
            entry["filePublic"] = row.get("filePublic", "")
            media_rows.append(row)
            report_rows.append(entry)

        for entry in report_rows:
            key = {"blurred": "public", "copied": "public"}.get(entry["outcome"], entry["outcome"])
            result.counts[key] = result.counts.get(key, 0) + 1
            if entry["outcome"] == "not public":
                result.reasons[entry["reason"]] = result.reasons.get(entry["reason"], 0) + 1
        result.counts["not in package"] = sum(1 for i in share.images if i.relative not in used_images)
        result.observations_added = len(new_observations)

        _write_tables(package, staging, media_rows, new_observations)
        descriptor = _describe(package.descriptor, share, result, report_rows, detector, bool(new_observations))
        write_bytes_atomically(staging / "datapackage.json",
                               (json.dumps(descriptor, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        _copy_other_resources(package, staging)
        dest.finish(staging, target, KIND, {"share": str(share.root), "package": str(package.descriptor_path)})
    except BaseException:
        dest.abandon(staging)
        raise
    _write_report(report_path, report_rows)
    result.elapsed_s = time.perf_counter() - started
    return result


# ----------------------------------------------------------------------------------------------------------
# Matching media rows to images of the shareable folder


class _Matcher:
    def __init__(self, share: Share) -> None:
        self.written = {image.relative: image for image in share.images}
        self.not_written = {s.relative: s for s in share.not_shared if s.action in ("withheld", "failed")}
        known = list(self.written) + list(self.not_written)
        self.exact = set(known)
        self.lower: dict[str, list[str]] = {}
        self.names: dict[str, list[str]] = {}
        self.names_lower: dict[str, list[str]] = {}
        for relative in known:
            name = posixpath.basename(relative)
            self.lower.setdefault(relative.lower(), []).append(relative)
            self.names.setdefault(name, []).append(relative)
            self.names_lower.setdefault(name.lower(), []).append(relative)

    def find(self, row: dict[str, str]) -> tuple[SharedImage | None, Any]:
        """The written image the row describes, or the not-written report row, or (None, None)."""
        relative = self._relative_for(row)
        if relative is None:
            return None, None
        if relative in self.written:
            return self.written[relative], None
        return None, self.not_written[relative]

    def _relative_for(self, row: dict[str, str]) -> str | None:
        file_path = (row.get("filePath") or "").strip().replace("\\", "/")
        if file_path and not is_url(file_path):
            parts = [p for p in posixpath.normpath(file_path).split("/") if p not in ("", ".")]
            for start in range(len(parts) - 1):
                found = self._lookup("/".join(parts[start:]))
                if found:
                    return found
            if parts:
                found = self._by_name(parts[-1])
                if found:
                    return found
        name = (row.get("fileName") or "").strip()
        return self._by_name(name) if name else None

    def _lookup(self, candidate: str) -> str | None:
        if candidate in self.exact:
            return candidate
        matches = self.lower.get(candidate.lower(), [])
        return matches[0] if len(matches) == 1 else None

    def _by_name(self, name: str) -> str | None:
        """The one image called ``name`` (any folder); None when there are none or several."""
        matches = self.names.get(name) or self.names_lower.get(name.lower(), [])
        return matches[0] if len(matches) == 1 else None


def _new_file_path(row: dict[str, str], image: SharedImage) -> str:
    """Where the copy goes in the new package: the row's own relative path, or media/<path in the share>."""
    original = (row.get("filePath") or "").strip().replace("\\", "/")
    if original and not is_url(original):
        return posixpath.normpath(original)
    return f"media/{image.relative}"


# ----------------------------------------------------------------------------------------------------------
# Observations from the detections


def _observations_for(media_row: dict[str, str], image: SharedImage, share: Share, detector: str,
                      existing_ids: set[str]) -> list[dict[str, str]]:
    added = []
    media_id = media_row.get("mediaID", "")
    timestamp = media_row.get("timestamp", "")
    completed = _completion_time(share)
    for detection in sorted(image.detections or (), key=lambda d: -d.conf):
        if detection.category in PERSON_NAMES:
            kind, threshold = "human", share.threshold_for("person")
            blurred = any(c in PERSON_NAMES for c in share.blurred_categories)
        elif detection.category == "vehicle" and "vehicle" in share.blurred_categories:
            kind, threshold, blurred = "vehicle", share.threshold_for("vehicle"), True
        else:
            continue
        if detection.conf < threshold:
            continue
        identifier = _unique_id(f"{media_id}_trapblur_{len(added) + 1}", existing_ids)
        existing_ids.add(identifier)
        row = {
            "observationID": identifier, "deploymentID": media_row.get("deploymentID", ""), "mediaID": media_id,
            "eventStart": timestamp, "eventEnd": timestamp, "observationLevel": "media", "observationType": kind,
            "count": "1", "classificationMethod": "machine", "classifiedBy": detector,
            "classificationTimestamp": completed, "classificationProbability": f"{detection.conf:.3f}",
            "observationTags": "trapblur:blurred" if blurred and image.blurred else "trapblur:not blurred",
            "observationComments": f"{'person' if kind == 'human' else 'vehicle'} detected by {detector}"
                                   + ("; blurred by trapblur" if blurred and image.blurred else ""),
        }
        row.update(_bbox(detection.bbox))
        added.append(row)
    return added


def _bbox(bbox: Sequence[float]) -> dict[str, str]:
    x, y, width, height = (float(v) for v in bbox)
    x, y = min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)
    width, height = min(width, 1.0 - x), min(height, 1.0 - y)
    if width <= 0 or height <= 0:
        return {}
    return {"bboxX": f"{x:.4f}", "bboxY": f"{y:.4f}",
            "bboxWidth": f"{max(width, 1e-4):.4f}", "bboxHeight": f"{max(height, 1e-4):.4f}"}


def _unique_id(candidate: str, existing: set[str]) -> str:
    identifier, suffix = candidate, 1
    while identifier in existing:
        suffix += 1
        identifier = f"{candidate}_{suffix}"
    return identifier


def _completion_time(share: Share) -> str:
    """The detector's completion time when it is a Camtrap DP datetime (with a zone); else empty."""
    value = str(share.results_info.get("detection_completion_time") or "").strip().replace(" ", "T")
    parsed = parse_datetime(value) if value else None
    return parsed.strftime("%Y-%m-%dT%H:%M:%S%z") if parsed else ""


# ----------------------------------------------------------------------------------------------------------
# Writing the package


def _write_tables(package: CamtrapPackage, staging: Path, media_rows: list[dict[str, str]],
                  new_observations: list[dict[str, str]]) -> None:
    deployments, media, observations = (package.tables[name] for name in TABLES)
    write_bytes_atomically(staging / deployments.relative, deployments.raw)
    write_bytes_atomically(staging / media.relative, table_bytes(media.header, media_rows))
    needed = tuple(c for c in _OBSERVATION_COLUMNS if any(c in row for row in new_observations))
    header = header_with(observations.header, "observations", needed)
    if header == observations.header:
        # Existing rows byte for byte; new ones appended under the same header.
        raw = observations.raw if observations.raw.endswith(b"\n") or not observations.raw else observations.raw + b"\n"
        buffer = io.StringIO()
        csv.DictWriter(buffer, fieldnames=header, lineterminator=_line_ending(raw), extrasaction="ignore",
                       restval="").writerows(new_observations)
        write_bytes_atomically(staging / observations.relative, raw + buffer.getvalue().encode("utf-8"))
    else:  # the table lacked a column the new rows need: rewritten with it, existing values unchanged
        write_bytes_atomically(staging / observations.relative, table_bytes(header, observations.rows + new_observations))


def _line_ending(raw: bytes) -> str:
    return "\r\n" if b"\r\n" in raw[:4096] else "\n"


def _copy_other_resources(package: CamtrapPackage, staging: Path) -> None:
    """Resources other than the three tables: local files are copied; inline data stays in the descriptor."""
    for resource in package.descriptor.get("resources", []):
        if not isinstance(resource, dict) or resource.get("name") in TABLES:
            continue
        paths = resource.get("path")
        for relative in [paths] if isinstance(paths, str) else (paths or []):
            if not isinstance(relative, str) or is_url(relative) or relative.startswith(("/", "~")) or ".." in relative:
                continue
            source = package.folder / relative
            if source.is_file():
                copy_atomically(source, staging / relative)


def _describe(descriptor: dict[str, Any], share: Share, result: CamtrapExport, report_rows: list[dict[str, Any]],
              detector: str, added_observations: bool) -> dict[str, Any]:
    new = json.loads(json.dumps(descriptor))  # a deep copy, keys in their order
    outcomes = Counter(row["outcome"] for row in report_rows)
    private = sum(1 for row in report_rows if row["outcome"] in ("not public", "unmatched") and row["filePublic"] == "false")
    categories = ["people"] + (["vehicles"] if "vehicle" in share.blurred_categories else [])
    thresholds = ", ".join(f"{c} {share.threshold_for(c):g}" for c in share.blurred_categories)
    note = (
        f"Media files were anonymised with trapblur {__version__} before publication: {' and '.join(categories)} "
        f"detected by {detector} (confidence thresholds: {thresholds}) were blurred in {outcomes['blurred']} "
        f"media files; {outcomes['copied']} had nothing to hide and are unchanged copies. "
        f"{private} media files that were not checked or could not be blurred are not public (filePublic false) "
        "and not included. "
        "GPS positions, serial numbers and maker notes were removed from the media files' metadata. "
        f"{result.observations_added} observations of type human"
        + (" or vehicle" if "vehicle" in share.blurred_categories else "")
        + " were added from the detections (classificationMethod machine, classifiedBy the detector)."
    )
    description = str(new.get("description") or "").rstrip()
    new["description"] = f"{description}\n\n{note}" if description else note
    project = new.get("project")
    if added_observations and isinstance(project, dict):
        levels = project.get("observationLevel")
        if isinstance(levels, list) and "media" not in levels:
            project["observationLevel"] = [*levels, "media"]
    return new


def _clean_exif_data(value: str | None) -> str:
    """``exifData`` without GPS or serial-number keys, when it is a JSON object; otherwise as it was."""
    if not value or not value.strip().startswith("{"):
        return value or ""
    try:
        document = json.loads(value)
    except ValueError:
        return value

    def clean(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: clean(v) for k, v in item.items() if not is_sensitive(str(k))}
        if isinstance(item, list):
            return [clean(v) for v in item]
        return item

    cleaned = clean(document)
    return value if cleaned == document else json.dumps(cleaned, ensure_ascii=False)


def _write_report(path: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REPORT_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomically(path, buffer.getvalue().encode("utf-8"))
