"""What happened to each image: the per-image record, the CSV report, and the run's summary.

Actions (one per row of the report):

========  ===============================================================================================
blurred   written with every selected detection hidden
copied    written byte for byte (or hard-linked): nothing to hide
withheld  not written, because it is not known to be safe (not in the results, the detector failed on it,
          unsupported file type, ambiguous results, link out of the folder)
failed    not written, because reading, decoding, editing or writing it went wrong
missing   listed in the results, but no such image is in the folder
refused   listed in the results with a path outside the image folder: never read
ignored   not an image (text files, spreadsheets); not written
========  ===============================================================================================
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterator, Optional

ACTIONS = ("blurred", "copied", "withheld", "failed", "missing", "refused", "ignored")
WRITTEN_ACTIONS = ("blurred", "copied")
PROBLEM_ACTIONS = ("withheld", "failed")


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

    @property
    def written(self) -> bool:
        return self.action in WRITTEN_ACTIONS


COLUMNS = tuple(f.name for f in fields(ImageResult))


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
    )


def read_report(path: Path) -> Iterator[ImageResult]:
    """The rows of a report (or journal) CSV, one at a time."""
    with path.open(newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            yield row_to_result(row)


class ReportWriter:
    """Appends rows to a CSV file as they come, flushing each, so an interrupted run keeps its progress."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._stream = path.open("w", newline="", encoding="utf-8")
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

    def __exit__(self, *exc: object) -> None:
        self.close()


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

    @property
    def images_per_second(self) -> float:
        return self.processed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        """True when no image was withheld or failed."""
        return not any(self.counts[a] for a in PROBLEM_ACTIONS)

    def add(self, result: ImageResult) -> None:
        self.counts[result.action] = self.counts.get(result.action, 0) + 1
        if result.action in PROBLEM_ACTIONS:
            self.reasons[result.reason] = self.reasons.get(result.reason, 0) + 1

    def images(self) -> Iterator[ImageResult]:
        """Every row of the CSV report, read back lazily."""
        return read_report(Path(self.report_csv))

    def summary(self) -> str:
        """A few lines a person can read: counts, time, speed, where the report is."""
        out = io.StringIO()
        images = sum(self.counts[a] for a in ("blurred", "copied", "withheld", "failed"))
        out.write(
            f"{images} images: {self.counts['blurred']} blurred, {self.counts['copied']} copied, "
            f"{self.counts['withheld']} withheld, {self.counts['failed']} failed\n"
        )
        extra = [f"{self.counts[a]} {a}" for a in ("missing", "refused", "ignored") if self.counts[a]]
        if extra:
            out.write("results entries / other files: " + ", ".join(extra) + "\n")
        out.write(
            f"{self.processed} processed in {self.elapsed_s:.1f} s ({self.images_per_second:.1f} images/s)"
            + (f"; {images - self.processed} already done by an earlier run" if images > self.processed else "")
            + "\n"
        )
        for reason, count in sorted(self.reasons.items(), key=lambda item: -item[1])[:8]:
            out.write(f"  {count:>6} x {reason}\n")
        out.write(f"report: {self.report_csv}\nresults for the output: {self.results_json}\n")
        return out.getvalue()
