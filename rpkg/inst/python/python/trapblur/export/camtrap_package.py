"""Camtrap DP 1.0 packages in and out: read ``datapackage.json`` and its three tables, check what the export
relies on, and report what is wrong by file, row and field.

The checks follow the standard's profile and table schemas (https://camtrap-dp.tdwg.org, version 1.0):
the package has the ``deployments``, ``media`` and ``observations`` resources as local CSV files; each table
has its required columns, required values are present, identifiers are unique, references between tables
resolve, ``filePublic`` is true or false, times are ISO 8601 with a time zone, and ``filePath`` is a URL or a
relative path inside the package. They need nothing beyond the standard library, so the export runs
without frictionless; the tests validate the packages the export writes with frictionless against the
standard's own profile and schemas.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import PackageFormatError

TABLES = ("deployments", "media", "observations")
#: The package fields the Camtrap DP profile requires.
REQUIRED_PACKAGE_FIELDS = ("resources", "profile", "created", "contributors", "project", "spatial", "temporal",
                           "taxonomic")
#: Column order of each table (Camtrap DP 1.0 table schemas), used to place a column a table lacks.
FIELDS = {
    "deployments": ("deploymentID", "locationID", "locationName", "latitude", "longitude",
                    "coordinateUncertainty", "deploymentStart", "deploymentEnd", "setupBy", "cameraID",
                    "cameraModel", "cameraDelay", "cameraHeight", "cameraDepth", "cameraTilt", "cameraHeading",
                    "detectionDistance", "timestampIssues", "baitUse", "featureType", "habitat",
                    "deploymentGroups", "deploymentTags", "deploymentComments"),
    "media": ("mediaID", "deploymentID", "captureMethod", "timestamp", "filePath", "filePublic", "fileName",
              "fileMediatype", "exifData", "favorite", "mediaComments"),
    "observations": ("observationID", "deploymentID", "mediaID", "eventID", "eventStart", "eventEnd",
                     "observationLevel", "observationType", "cameraSetupType", "scientificName", "count",
                     "lifeStage", "sex", "behavior", "individualID", "individualPositionRadius",
                     "individualPositionAngle", "individualSpeed", "bboxX", "bboxY", "bboxWidth", "bboxHeight",
                     "classificationMethod", "classifiedBy", "classificationTimestamp",
                     "classificationProbability", "observationTags", "observationComments"),
}
REQUIRED = {
    "deployments": ("deploymentID", "latitude", "longitude", "deploymentStart", "deploymentEnd"),
    "media": ("mediaID", "deploymentID", "timestamp", "filePath", "filePublic", "fileMediatype"),
    "observations": ("observationID", "deploymentID", "eventStart", "eventEnd", "observationLevel",
                     "observationType"),
}
BOOLEAN_FIELDS = {
    "deployments": ("timestampIssues", "baitUse"),
    "media": ("filePublic", "favorite"),
    "observations": (),
}
#: What the profile requires of ``project``.
REQUIRED_PROJECT_FIELDS = ("title", "samplingDesign", "captureMethod", "individualAnimals", "observationLevel")
DATETIME_FIELDS = {
    "deployments": ("deploymentStart", "deploymentEnd"),
    "media": ("timestamp",),
    "observations": ("eventStart", "eventEnd", "classificationTimestamp"),
}
MISSING_VALUES = ("", "NA", "NaN", "nan")
BOOLEANS = {"true": True, "false": False, "TRUE": True, "FALSE": False, "True": True, "False": False,
            "1": True, "0": False}
_FILE_PATH = re.compile(r"^(?=[^./~])(?!.*\.\.).*$")
_MAX_PROBLEMS = 10


@dataclass
class Table:
    """One CSV table of the package: its file, header and rows (values as text, as in the file)."""

    name: str
    path: Path
    relative: str  # the resource's path, as the descriptor gives it
    header: list[str]
    rows: list[dict[str, str]]
    raw: bytes  # the file's bytes, to write unchanged what the export does not change


@dataclass
class CamtrapPackage:
    folder: Path
    descriptor: dict[str, Any]
    tables: dict[str, Table] = field(default_factory=dict)

    @property
    def descriptor_path(self) -> Path:
        return self.folder / "datapackage.json"


def read_package(path: str | Path) -> CamtrapPackage:
    """Read and check the Camtrap DP package ``path`` (its ``datapackage.json`` or the folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "datapackage.json"
    descriptor = _read_descriptor(path)
    package = CamtrapPackage(path.parent, descriptor)
    resources = descriptor["resources"]
    for name in TABLES:
        index, resource = _resource(resources, name, path)
        package.tables[name] = _read_table(path, index, resource)
    check_tables(package)
    return package


def is_true(value: str) -> bool | None:
    """A Camtrap DP boolean as Python's, or None when it is none of the spellings frictionless accepts."""
    return BOOLEANS.get(value.strip())


def is_url(file_path: str) -> bool:
    return "://" in file_path


def parse_datetime(value: str) -> datetime | None:
    """A Camtrap DP datetime (ISO 8601 with a time zone, ``Z`` or ``+01:00``), or None."""
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


# ----------------------------------------------------------------------------------------------------------
# Reading


def _read_descriptor(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise PackageFormatError(f"{path}: Camtrap DP package not found (give its datapackage.json)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PackageFormatError(f"{path}: cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise PackageFormatError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(document, dict):
        raise PackageFormatError(f"{path}: the top level must be a JSON object")
    missing = [name for name in REQUIRED_PACKAGE_FIELDS if name not in document]
    if missing:
        raise PackageFormatError(
            f"{path}: not a valid Camtrap DP package: required field {', '.join(repr(m) for m in missing)} is missing"
        )
    if not isinstance(document["resources"], list):
        raise PackageFormatError(f"{path}: field 'resources' must be a list")
    project = document["project"]
    if not isinstance(project, dict):
        raise PackageFormatError(f"{path}: field 'project' must be an object")
    missing = [name for name in REQUIRED_PROJECT_FIELDS if name not in project]
    if missing:
        raise PackageFormatError(
            f"{path}: not a valid Camtrap DP package: required field "
            f"{', '.join(repr('project.' + m) for m in missing)} is missing"
        )
    return document


def _resource(resources: list[Any], name: str, path: Path) -> tuple[int, dict[str, Any]]:
    for index, resource in enumerate(resources):
        if isinstance(resource, dict) and resource.get("name") == name:
            return index, resource
    raise PackageFormatError(f"{path}: field 'resources' has no resource named '{name}' (Camtrap DP requires "
                             "deployments, media and observations)")


def _read_table(descriptor_path: Path, index: int, resource: dict[str, Any]) -> Table:
    name = resource["name"]
    where = f"{descriptor_path}: resources[{index}] ({name})"
    relative = resource.get("path")
    if isinstance(relative, list) and len(relative) == 1:
        relative = relative[0]
    if not isinstance(relative, str) or not relative:
        raise PackageFormatError(f"{where}: field 'path' must name the table's CSV file (inline data is not supported)")
    if is_url(relative):
        raise PackageFormatError(f"{where}: field 'path' is a URL ({relative}); download the table into the package first")
    if relative.startswith(("/", "~")) or ".." in relative.replace("\\", "/").split("/"):
        raise PackageFormatError(f"{where}: field 'path' must be a relative path inside the package, not {relative!r}")
    file = descriptor_path.parent / relative
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise PackageFormatError(f"{where}: field 'path': the file {file} does not exist") from None
    except OSError as exc:
        raise PackageFormatError(f"{file}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = list(reader.fieldnames or [])
        rows = [dict(row) for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PackageFormatError(f"{file}: not a UTF-8 CSV file ({exc})") from None
    if not header:
        raise PackageFormatError(f"{file}: empty file (no header row)")
    missing = [column for column in REQUIRED[name] if column not in header]
    if missing:
        raise PackageFormatError(f"{file}: required column {', '.join(repr(m) for m in missing)} is missing "
                                 f"from the {name} table")
    return Table(name, file, relative, header, rows, raw)


# ----------------------------------------------------------------------------------------------------------
# Checking


def check_tables(package: CamtrapPackage) -> None:
    """Raise :class:`PackageFormatError` listing (up to ten of) the problems found, by file, row and field."""
    problems: list[str] = []
    ids: dict[str, set[str]] = {}
    for name, key in (("deployments", "deploymentID"), ("media", "mediaID"), ("observations", "observationID")):
        table = package.tables[name]
        seen: set[str] = set()
        for number, row in enumerate(table.rows, start=2):
            where = f"{table.path}: row {number}"
            for column in REQUIRED[name]:
                if (row.get(column) or "").strip() in MISSING_VALUES:
                    problems.append(f"{where}, field '{column}': a value is required")
            for column in BOOLEAN_FIELDS[name]:
                value = (row.get(column) or "").strip()
                if value not in MISSING_VALUES and is_true(value) is None:
                    problems.append(f"{where}, field '{column}': {value!r} is not true or false")
            for column in DATETIME_FIELDS[name]:
                value = (row.get(column) or "").strip()
                if value not in MISSING_VALUES and parse_datetime(value) is None:
                    problems.append(f"{where}, field '{column}': {value!r} is not a date-time like "
                                    "2021-04-11T20:43:09+01:00")
            identifier = row.get(key) or ""
            if identifier in seen:
                problems.append(f"{where}, field '{key}': {identifier!r} is not unique")
            seen.add(identifier)
            if name == "media":
                problems += _media_problems(row, where)
        ids[name] = seen
    for name in ("media", "observations"):
        table = package.tables[name]
        for number, row in enumerate(table.rows, start=2):
            deployment = row.get("deploymentID") or ""
            if deployment and deployment not in ids["deployments"]:
                problems.append(f"{table.path}: row {number}, field 'deploymentID': {deployment!r} is not a "
                                "deploymentID of the deployments table")
            media = (row.get("mediaID") or "") if name == "observations" else ""
            if media not in MISSING_VALUES and media not in ids["media"]:
                problems.append(f"{table.path}: row {number}, field 'mediaID': {media!r} is not a mediaID of the "
                                "media table")
    if problems:
        more = f"\n(and {len(problems) - _MAX_PROBLEMS} more)" if len(problems) > _MAX_PROBLEMS else ""
        raise PackageFormatError("not a valid Camtrap DP package:\n" + "\n".join(problems[:_MAX_PROBLEMS]) + more)


def _media_problems(row: dict[str, str], where: str) -> list[str]:
    problems = []
    file_path = (row.get("filePath") or "").strip()
    if file_path and not _FILE_PATH.match(file_path):
        problems.append(f"{where}, field 'filePath': {file_path!r} must be a URL or a relative path inside the "
                        "package (not starting with '.', '/' or '~', without '..')")
    mediatype = (row.get("fileMediatype") or "").strip()
    if mediatype and not re.match(r"^(image|video|audio)/", mediatype):
        problems.append(f"{where}, field 'fileMediatype': {mediatype!r} must look like image/jpeg")
    return problems


# ----------------------------------------------------------------------------------------------------------
# Writing


def header_with(header: list[str], table: str, columns: tuple[str, ...]) -> list[str]:
    """``header`` with ``columns`` it lacks inserted where the table schema puts them."""
    order = FIELDS[table]
    result = list(header)
    for column in columns:
        if column in result:
            continue
        position = len(result)
        later = order[order.index(column) + 1:]
        for index, existing in enumerate(result):
            if existing in later:
                position = index
                break
        result.insert(position, column)
    return result


def table_bytes(header: list[str], rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")
