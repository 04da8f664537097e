"""What happened to each image: the per-image record, the CSV report, and the run's summary.

Actions (one per row of the report):

=========  ===============================================================================================
blurred    written with every selected detection hidden
copied     written byte for byte (or hard-linked): nothing to hide
withheld   not written, because it is not known to be safe (not in the results, the detector failed on it,
           unsupported file type, ambiguous results, link out of the folder, a preview in its metadata
           that could not be re-rendered or removed)
failed     not written, because reading, decoding, editing or writing it went wrong, or its results entry
           is malformed (the reason names the entry's index and field)
missing    listed in the results, but no such image is in the folder (or the entry's path is ambiguous)
refused    listed in the results with a path outside the image folder (``../``, or another folder on this
           machine): never read
malformed  a results entry too broken to name a file (``input`` is its position, ``images[N]``)
ignored    not an image (text files, spreadsheets); not written
=========  ===============================================================================================

The report and the journal
--------------------------
Both are the same CSV (UTF-8, a header row, then one row per file), with the columns of
:class:`ImageResult`: ``input``, ``output``, ``action``, ``regions``, ``max_person_conf``, ``encoding``,
``reason``, ``correction``, ``input_sha256`` and ``entry_sha256``. While a run goes, rows are
appended (and flushed) to ``<output>/.trapblur/journal.csv`` as images complete, in folder order; when the run completes the journal is
renamed to ``<output>/trapblur_report.csv``. A row is a finished image when its ``action`` is blurred or
copied: its ``output`` exists, was made from input bytes whose SHA-256 is ``input_sha256``, and from a results
entry (failure and detections, with the tool that made the boxes, which decides their frame) whose SHA-256
is ``entry_sha256`` ("" for an image not in the results). A
re-run (or any tool that resumes a run) may skip exactly the rows whose three facts still hold; every other
row is redone. File names that are not valid UTF-8 (possible on Linux) are written as their raw bytes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterator, Optional

from .frames import AMBIGUOUS_PREFIX

ACTIONS = ("blurred", "copied", "withheld", "failed", "missing", "refused", "malformed", "ignored")
WRITTEN_ACTIONS = ("blurred", "copied")
PROBLEM_ACTIONS = ("withheld", "failed", "malformed")


@dataclass(frozen=True)
class ImageResult:
    """One row of the report. Paths are relative to the image folder and to the output folder."""

    input: str
    output: str
    action: str
    regions: int = 0
    max_person_conf: Optional[float] = None
    encoding: str = ""  # how the output was made: copy, link, lossless, reencode (empty when nothing was written)
    reason: str = ""
    correction: str = ""  # what a reviewer's corrections file did to this image (empty: nothing)
    input_sha256: str = ""  # SHA-256 of the input bytes the output was made from ("" when none was written)
    entry_sha256: str = ""  # SHA-256 of the results entry it was made from ("" for an image not in the results)

    @property
    def written(self) -> bool:
        return self.action in WRITTEN_ACTIONS


COLUMNS = tuple(f.name for f in fields(ImageResult))
MALFORMED_ENTRY = "malformed results entry"


def _reason_key(result: ImageResult) -> str:
    """The reason as the summary counts it: malformed entries' reasons name each entry, so they are counted
    together (the report keeps each one)."""
    if result.action == "malformed":
        return "results entry names no usable file (the report lists each, as images[N])"
    if result.reason.startswith(MALFORMED_ENTRY + ":"):
        return f"{MALFORMED_ENTRY} (the report names each entry's index and field)"
    return result.reason


def result_to_row(result: ImageResult) -> list[str]:
    values = asdict(result)
    conf = values["max_person_conf"]
    values["max_person_conf"] = "" if conf is None else f"{conf:.3f}"
    return [str(values[c]) for c in COLUMNS]


def row_to_result(row: dict[str, str]) -> ImageResult:
    conf = row.get("max_person_conf") or ""
    return ImageResult(
        input=row["input"],
        output=row.get("output", ""),
        action=row["action"],
        regions=int(row.get("regions") or 0),
        max_person_conf=float(conf) if conf else None,
        encoding=row.get("encoding", ""),
        reason=row.get("reason", ""),
        correction=row.get("correction", ""),
        input_sha256=row.get("input_sha256") or "",
        entry_sha256=row.get("entry_sha256") or "",
    )


def read_report(path: Path) -> Iterator[ImageResult]:
    """The rows of a report (or journal) CSV, one at a time."""
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as stream:
        for row in csv.DictReader(stream):
            yield row_to_result(row)


class ReportWriter:
    """Appends rows to a CSV file as they come, flushing each, so an interrupted run keeps its progress."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # surrogateescape: a file name that is not valid UTF-8 is written as the bytes the file system has.
        self._stream = path.open("w", newline="", encoding="utf-8", errors="surrogateescape")
        self._writer = csv.writer(self._stream)
        self._writer.writerow(COLUMNS)
        self._stream.flush()

    def write(self, result: ImageResult) -> None:
        self._writer.writerow(result_to_row(result))
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        try:
            self.close()
        except OSError:
            if kind is None:
                raise  # otherwise the error being raised already says what went wrong (a full disk)


@dataclass
class RunReport:
    """What ``blur_dataset`` returns: counts, timing, and where the report files are."""

    output: str
    report_csv: str
    results_json: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))
    total: int = 0
    processed: int = 0  # images handled in this run (the others were finished by an earlier run)
    elapsed_s: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)  # withheld/failed reasons and how often
    #: Things the user must look at before sharing (few listed images, paths matched from another
    #: machine's folder of another name, ...). The summary prints them first; R turns each into a warning.
    warnings: list[str] = field(default_factory=list)
    #: Results entries from other machines matched by their trailing part, and the folder prefixes removed.
    matched_by_trailing_part: int = 0
    trailing_part_prefixes: dict[str, int] = field(default_factory=dict)
    corrected: dict[str, int] = field(default_factory=dict)  # images a reviewer corrected, by kind
    correction_problems: list[str] = field(default_factory=list)  # corrections rows that were not applied
    ambiguous_orientation: int = 0  # blurred at every candidate place: the boxes' frame was not known

    @property
    def images_per_second(self) -> float:
        return self.processed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        """True when no image was withheld or failed, no results entry was malformed, and every corrections
        row was applied."""
        return not any(self.counts[a] for a in PROBLEM_ACTIONS) and not self.correction_problems

    def add(self, result: ImageResult) -> None:
        self.counts[result.action] = self.counts.get(result.action, 0) + 1
        if result.action in PROBLEM_ACTIONS:
            key = _reason_key(result)
            self.reasons[key] = self.reasons.get(key, 0) + 1
        if result.correction:
            kind = result.correction.split(" ", 1)[0].rstrip(":")
            kind = "box" if kind.isdigit() else kind  # "2 boxes [...]"
            self.corrected[kind] = self.corrected.get(kind, 0) + 1
        if result.action == "blurred" and result.reason.startswith(AMBIGUOUS_PREFIX):
            self.ambiguous_orientation += 1

    def images(self) -> Iterator[ImageResult]:
        """Every row of the CSV report, read back lazily."""
        return read_report(Path(self.report_csv))

    def summary(self) -> str:
        """A few lines a person can read: counts, time, speed, where the report is."""
        out = io.StringIO()
        for warning in self.warnings:
            out.write(f"WARNING: {warning}\n")
        images = sum(self.counts[a] for a in ("blurred", "copied", "withheld", "failed"))
        out.write(
            f"{images} images: {self.counts['blurred']} blurred, {self.counts['copied']} copied, "
            f"{self.counts['withheld']} withheld, {self.counts['failed']} failed\n"
        )
        extra = [f"{self.counts[a]} {a}" for a in ("missing", "refused", "malformed", "ignored") if self.counts[a]]
        if extra:
            out.write("results entries / other files: " + ", ".join(extra) + "\n")
        if self.matched_by_trailing_part:
            removed = ", ".join(f"{prefix!r} ({count})" for prefix, count in self.trailing_part_prefixes.items())
            out.write(f"{self.matched_by_trailing_part} results entries made on another machine were matched by "
                      f"their trailing part, removing that machine's folder: {removed}\n")
        out.write(
            f"{self.processed} processed in {self.elapsed_s:.1f} s ({self.images_per_second:.1f} images/s)"
            + (f"; {images - self.processed} already done by an earlier run" if images > self.processed else "")
            + "\n"
        )
        if self.ambiguous_orientation:
            out.write(f"{self.ambiguous_orientation} blurred at more than one place: their orientation tag "
                      "leaves open which way the detector saw them (see the report's reason)\n")
        for reason, count in sorted(self.reasons.items(), key=lambda item: -item[1])[:8]:
            out.write(f"  {count:>6} x {reason}\n")
        if self.corrected:
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.corrected.items()))
            out.write(f"corrected by the reviewer: {sum(self.corrected.values())} images ({kinds}; "
                      "see the report's correction column)\n")
        if self.correction_problems:
            out.write(f"{len(self.correction_problems)} corrections rows not applied:\n")
            for line in self.correction_problems[:8]:
                out.write(f"  {line}\n")
            if len(self.correction_problems) > 8:
                out.write(f"  ... and {len(self.correction_problems) - 8} more\n")
        out.write(f"report: {self.report_csv}\nresults for the output: {self.results_json}\n")
        return out.getvalue()
