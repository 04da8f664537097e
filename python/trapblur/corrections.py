"""A reviewer's corrections: read and check ``corrections.csv``, and apply it to the run's detections.

The file is what the review page's "Save corrections" button downloads (a spreadsheet can write it too)::

    file,action,box,note
    site A/cam1/IMG_0042.JPG,box,"[0.61, 0.18, 0.08, 0.22]",hiker behind the tree
    site A/cam1/IMG_0043.JPG,blur-image,,
    site A/cam1/IMG_0050.JPG,withhold,,my own car

* ``file``: the image's path relative to the image folder, as in the report's ``input`` column.
* ``action``: ``box`` (blur this box, whatever the threshold), ``blur-image`` (hide the whole frame),
  ``withhold`` (keep the image out of the shareable folder) or ``accept`` (looked at: nothing to change).
  Spellings with spaces or underscores (``blur image``, ``blur_box``) are accepted.
* ``box``: for ``box`` rows, MegaDetector's ``[x, y, width, height]``: fractions of the *upright* image
  (as displayed), from its top-left corner. The brackets are optional.
* ``note``: free text, carried to the report.

Corrections only ever hide more: none of them can make an image that the run withheld be written.
A row that cannot be applied is never silently dropped: a row naming an image whose intent is unclear
(unknown action, a box out of range) withholds that image; a row naming no image of the folder is reported.

Pure functions, except :func:`read_corrections` (reads the file) at the top.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from .dataset import ImageFile
from .errors import CorrectionsFormatError
from .results import Detection, ImageEntry

Box = tuple[float, float, float, float]
ACTIONS = ("box", "blur-image", "withhold", "accept")
COLUMNS = ("file", "action", "box", "note")
WHOLE_FRAME: Box = (0.0, 0.0, 1.0, 1.0)
#: How far past the frame a box may reach and still be taken as touching its edge (rounding in tools).
EDGE_TOLERANCE = 0.002
_ALIASES = {
    "box": "box", "add-box": "box", "blur-box": "box", "draw-box": "box", "blur": "box",
    "blur-image": "blur-image", "blur-whole-image": "blur-image", "blur-all": "blur-image",
    "hide-image": "blur-image", "hide": "blur-image",
    "withhold": "withhold", "withheld": "withhold", "exclude": "withhold", "remove": "withhold",
    "accept": "accept", "accepted": "accept", "ok": "accept",
}
_DRIVE = re.compile(r"^[A-Za-z]:/")


@dataclass(frozen=True)
class Correction:
    """One row of a corrections file, checked. ``row`` is its line number (the header is line 1)."""

    row: int
    file: str
    action: str
    box: Box | None = None
    note: str = ""


@dataclass(frozen=True)
class RowProblem:
    """A row that cannot be applied, and why. ``file`` is empty when the row names no image."""

    row: int
    file: str
    message: str

    def describe(self, source: str) -> str:
        name = f" ({self.file!r})" if self.file else ""
        return f"{source}: row {self.row}{name}: {self.message}"


@dataclass(frozen=True)
class Corrections:
    """A whole corrections file: its checked rows, the rows that could not be read, and its hash."""

    source: str
    sha256: str
    rows: tuple[Correction, ...]
    problems: tuple[RowProblem, ...] = ()


@dataclass(frozen=True)
class ImageCorrection:
    """All that the corrections say about one image of the folder."""

    relative: str
    rows: tuple[int, ...]
    boxes: tuple[Box, ...] = ()
    blur_image: bool = False
    withhold: bool = False
    accept: bool = False
    notes: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # rows about this image that could not be applied: it is withheld

    @property
    def kind(self) -> str:
        """The strongest thing asked for: withhold > blur-image > box > accept."""
        if self.withhold or self.problems:
            return "withhold"
        if self.blur_image:
            return "blur-image"
        return "box" if self.boxes else "accept"

    @property
    def hides_more(self) -> bool:
        return self.kind in ("blur-image", "box")

    def added_boxes(self) -> tuple[Box, ...]:
        return (WHOLE_FRAME,) if self.blur_image else self.boxes

    def describe(self) -> str:
        """The report's ``correction`` column: what was done, in full (a re-run compares it to decide whether
        a finished image must be redone), without row numbers (they change when a file is re-sorted)."""
        kind = self.kind
        if self.problems:
            text = "withhold: " + "; ".join(self.problems)
        elif kind == "box":
            boxes = ", ".join("[" + ", ".join(f"{v:.6g}" for v in box) + "]" for box in self.boxes)
            text = f"box {boxes}" if len(self.boxes) == 1 else f"{len(self.boxes)} boxes {boxes}"
        else:
            text = kind
        notes = "; ".join(n for n in self.notes if n)
        return f"{text} (note: {notes})" if notes else text

    def withheld_reason(self, source: str) -> str:
        rows = ", ".join(str(r) for r in self.rows)
        where = f"{Path(source).name} row{'s' if len(self.rows) > 1 else ''} {rows}"
        if self.problems:
            return f"withheld: the corrections cannot be applied ({where}: {'; '.join(self.problems)})"
        notes = "; ".join(n for n in self.notes if n)
        return f"withheld by the reviewer ({where}{': ' + notes if notes else ''})"


@dataclass(frozen=True)
class AppliedCorrections:
    """Corrections matched to the folder: per image, plus the rows that name no image of it."""

    source: str
    sha256: str
    images: Mapping[str, ImageCorrection]
    unmatched: tuple[RowProblem, ...]

    def descriptions(self) -> dict[str, str]:
        """The report's ``correction`` column per image. A finished image whose column differs is redone."""
        return {relative: c.describe() for relative, c in self.images.items()}

    def record(self) -> dict[str, object]:
        """What the run's settings keep of them (``.trapblur/run.json``)."""
        return {"file": self.source, "sha256": self.sha256, "images": len(self.images),
                "rows_not_applied": len(self.problem_lines())}

    def problem_lines(self) -> list[str]:
        lines = [p.describe(self.source) for p in self.unmatched]
        for correction in self.images.values():
            if correction.problems:
                lines.append(f"{self.source}: {correction.relative!r}: {'; '.join(correction.problems)} "
                             "(the image is withheld)")
        return lines


# ----------------------------------------------------------------------------------------------------------
# Reading


def read_corrections(path: str | Path) -> Corrections:
    """Read and check a corrections CSV. Raises :class:`CorrectionsFormatError` only for the whole file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CorrectionsFormatError(f"{path}: corrections file not found") from None
    except IsADirectoryError:
        raise CorrectionsFormatError(f"{path}: is a folder, not a corrections file") from None
    except OSError as exc:
        raise CorrectionsFormatError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorrectionsFormatError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    return parse_corrections(text, source=str(path), sha256=hashlib.sha256(data).hexdigest())


def parse_corrections(text: str, source: str = "<corrections>", sha256: str = "") -> Corrections:
    """Check every row of a corrections CSV's text; bad rows become :class:`RowProblem` records."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = next(reader, None)
    if header is None:
        raise CorrectionsFormatError(f"{source}: empty file; expected a header line {','.join(COLUMNS)}")
    names = [h.strip().lower() for h in header]
    missing = [c for c in ("file", "action") if c not in names]
    if missing:
        raise CorrectionsFormatError(
            f"{source}: the header line must name the columns {','.join(COLUMNS)} (found {','.join(names) or 'none'}; "
            f"missing {', '.join(missing)})"
        )
    column = {name: names.index(name) for name in COLUMNS if name in names}
    rows: list[Correction] = []
    problems: list[RowProblem] = []
    for line, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue  # blank lines, as spreadsheets leave at the end

        def get(name: str) -> str:
            index = column.get(name)
            return values[index].strip() if index is not None and index < len(values) else ""

        outcome = check_row(line, get("file"), get("action"), get("box"), get("note"))
        (rows if isinstance(outcome, Correction) else problems).append(outcome)
    return Corrections(source=source, sha256=sha256, rows=tuple(rows), problems=tuple(problems))


def check_row(row: int, file: str, action: str, box: str, note: str) -> Correction | RowProblem:
    """One row as a :class:`Correction`, or the :class:`RowProblem` that keeps it from being applied."""
    if not file:
        return RowProblem(row, "", "no file named in the 'file' column")
    canonical = _ALIASES.get(re.sub(r"[\s_]+", "-", action.strip().lower()))
    if canonical is None:
        shown = f"unknown action {action!r}" if action else "no action given"
        return RowProblem(row, file, f"{shown}; use one of {', '.join(ACTIONS)}")
    parsed: Box | None = None
    if canonical == "box":
        parsed_or_problem = parse_box(box)
        if isinstance(parsed_or_problem, str):
            return RowProblem(row, file, parsed_or_problem)
        parsed = parsed_or_problem
    return Correction(row, file, canonical, parsed, note)


def parse_box(text: str) -> Box | str:
    """MegaDetector's ``[x, y, width, height]`` (fractions of the upright image), or what is wrong with it."""
    if not text:
        return "a 'box' row needs a box [x, y, width, height] (fractions of the image, 0 to 1)"
    parts = [p for p in re.split(r"[\s,;]+", text.strip().strip("[]()").strip()) if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return f"box {text!r} is not 4 numbers [x, y, width, height]"
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        return f"box {text!r} is not 4 numbers [x, y, width, height]"
    x, y, w, h = values
    if w <= 0 or h <= 0:
        return f"box {text!r} has no area (width and height must be greater than 0)"
    if x < -EDGE_TOLERANCE or y < -EDGE_TOLERANCE or x + w > 1 + EDGE_TOLERANCE or y + h > 1 + EDGE_TOLERANCE:
        hint = " (pixel coordinates? give fractions of the image's width and height)" if max(values) > 1.5 else ""
        return f"box {text!r} is out of range: x, y, x + width and y + height must lie between 0 and 1{hint}"
    if x >= 0 and y >= 0 and x + w <= 1 and y + h <= 1:
        return (x, y, w, h)
    x0, y0 = max(0.0, x), max(0.0, y)  # within the tolerance: clip to the frame
    return (x0, y0, min(1.0, x + w) - x0, min(1.0, y + h) - y0)


# ----------------------------------------------------------------------------------------------------------
# Matching and applying (pure)


def match_corrections(corrections: Corrections, relatives: Iterable[str]) -> AppliedCorrections:
    """Attach each row to the image it names (paths as in the report's ``input`` column)."""
    known = set(relatives)
    by_lower: dict[str, list[str]] = {}  # by Unicode-normalised (NFC) path, and by that lower-cased
    for relative in known:
        by_lower.setdefault(_nfc(relative), []).append(relative)
        by_lower.setdefault(_nfc(relative).lower(), []).append(relative)
    grouped: dict[str, list[Correction | RowProblem]] = {}
    unmatched: list[RowProblem] = []
    for item in (*corrections.rows, *corrections.problems):
        if not item.file:
            unmatched.append(item)  # type: ignore[arg-type]  # a problem row without a file
            continue
        relative = find_image(item.file, known, by_lower)
        if relative is None:
            message = "no such image in the run's image folder"
            if isinstance(item, RowProblem):
                message += f"; also: {item.message}"
            unmatched.append(RowProblem(item.row, item.file, message))
        else:
            grouped.setdefault(relative, []).append(item)
    images = {relative: _combine(relative, items) for relative, items in grouped.items()}
    return AppliedCorrections(corrections.source, corrections.sha256, images,
                              tuple(sorted(unmatched, key=lambda p: p.row)))


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def find_image(file: str, known: set[str], by_lower: Mapping[str, Sequence[str]]) -> str | None:
    """The folder's image a corrections row names: exact, then by Unicode normalisation (spreadsheets write
    names composed, macOS stores them decomposed), then by letter case, then by trailing part."""
    text = file.replace("\\", "/")
    absolute = text.startswith("/") or bool(_DRIVE.match(text))
    parts = [p for p in text.split("/") if p and p != "." and not _DRIVE.match(p + "/")]
    if ".." in parts:
        return None
    candidates = ["/".join(parts[start:]) for start in range(len(parts))] if absolute else ["/".join(parts)]
    for candidate in candidates:
        if candidate in known:
            return candidate
        for key in (_nfc(candidate), _nfc(candidate).lower()):
            folded = set(by_lower.get(key, ()))
            if folded:
                if len(folded) == 1:
                    return next(iter(folded))
                break  # two images: ambiguous
    return None


def _combine(relative: str, items: Sequence[Correction | RowProblem]) -> ImageCorrection:
    rows = tuple(sorted(i.row for i in items))
    good = [i for i in items if isinstance(i, Correction)]
    problems = tuple(f"row {i.row}: {i.message}" for i in items if isinstance(i, RowProblem))
    return ImageCorrection(
        relative=relative,
        rows=rows,
        boxes=tuple(dict.fromkeys(c.box for c in good if c.action == "box" and c.box is not None)),
        blur_image=any(c.action == "blur-image" for c in good),
        withhold=any(c.action == "withhold" for c in good),
        accept=any(c.action == "accept" for c in good),
        notes=tuple(dict.fromkeys(c.note for c in good if c.note)),
        problems=problems,
    )


def reviewer_detections(correction: ImageCorrection, category: str) -> tuple[Detection, ...]:
    """The boxes a correction adds, as detections that pass any threshold (confidence 1)."""
    return tuple(Detection(category=category, conf=1.0, bbox=box) for box in correction.added_boxes())


def apply_to_entry(entry: ImageEntry, correction: ImageCorrection, category: str) -> ImageEntry:
    """``entry`` with the correction's boxes added. An entry the detector could not process stays as it is."""
    if not correction.hides_more or not entry.processed:
        return entry
    return dataclasses.replace(entry, detections=(*(entry.detections or ()), *reviewer_detections(correction, category)))


def apply_to_files(
    files: Sequence[ImageFile], applied: AppliedCorrections, category: str, copy_unlisted: bool
) -> list[ImageFile]:
    """The folder's files with the corrections applied: boxes added to entries, withheld images marked.

    An image not in the results stays as the run would treat it (withheld unless ``copy_unlisted``: then
    the reviewer's boxes are its only detections).
    """
    out = []
    for file in files:
        correction = applied.images.get(file.relative)
        if correction is None:
            out.append(file)
        elif correction.kind == "withhold":
            out.append(dataclasses.replace(file, problem=file.problem or correction.withheld_reason(applied.source)))
        elif file.entry is not None:
            out.append(dataclasses.replace(file, entry=apply_to_entry(file.entry, correction, category)))
        elif copy_unlisted and correction.hides_more:
            entry = ImageEntry(file=file.relative, detections=reviewer_detections(correction, category))
            out.append(dataclasses.replace(file, entry=entry))
        else:
            out.append(file)
    return out


def corrections_csv(rows: Iterable[Correction]) -> str:
    """Rows written back as a corrections CSV (what the review page's button produces)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for c in rows:
        box = "" if c.box is None else "[" + ", ".join(f"{v:.4f}" for v in c.box) + "]"
        writer.writerow([c.file, c.action, box, c.note])
    return out.getvalue()
