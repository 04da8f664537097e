"""Zooniverse subject sets from a shareable folder: small JPEGs without metadata, and one manifest per set.

What is written to the upload folder::

    UPLOAD/
      set_001/manifest.csv      one row per subject; upload with panoptes subject-set upload-subjects
      set_001/000001.jpg ...    the images, at most max_bytes each, longest side at most max_side
      set_002/...
      export_report.csv         every image of the shareable folder: exported (where), excluded, withheld, why
      .trapblur-export.json     what made this folder (a re-run replaces the folder whole)

The rules (see the README's "Sharing to Zooniverse"):

* Only images the shareable folder holds are exported (blurred or copied there), read from that folder.
  With ``exclude_people`` every image with a person detection at or above the run's person threshold is left
  out, and so is every image copied without results (nobody looked for people in it).
* Each image is turned upright, shrunk to ``max_side`` (never enlarged) and encoded at the highest JPEG
  quality from ``top_quality`` down to ``min_quality`` that fits ``max_bytes``; one that does not fit is
  withheld and listed with the reason.
* No metadata is carried except the EXIF tags named in ``keep_metadata``; GPS tags, serial numbers, maker
  notes and owner names are refused even when named.
* Manifest columns: ``image_1`` ... ``image_N`` (the files of a subject; N is the widest subject in the set),
  then hidden columns volunteers never see but project exports return: ``#folder`` (the camera's folder,
  "(top level)" for images directly in the shareable folder), ``#original_1`` ... (paths in the shareable
  folder, which are the original relative paths), ``#capture_time_1`` ... (EXIF DateTimeOriginal, ISO 8601,
  "unknown" when the image has none) and ``#blurred_1`` ... (true / false).
* The widest subject of each set is its first row: panoptes-cli takes its file columns from the first row.
  Sets whose subjects differ in image count need ``--allow-missing`` (the command is in the summary).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
import shlex
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence, Union

from PIL import Image

from ..atomic import write_bytes_atomically
from ..errors import ImageError, OptionsError
from . import destination as dest
from .downscale import encode_to_fit, upright_pixels
from .metadata import build_exif_segment, check_keep_names, insert_after_header, read_tags
from .share import Share, SharedImage, read_share
from .subjects import Timed, group_bursts, split_sets

log = logging.getLogger(__name__)

KIND = "zooniverse"
#: panoptes-cli refuses files larger than this (1 MiB); Zooniverse asks for at most 1 MB.
PANOPTES_MAX_BYTES = 1024 * 1024
ADVISED_SET_SIZE = 10_000
REPORT_NAME = "export_report.csv"
MANIFEST_NAME = "manifest.csv"
TOP_LEVEL = "(top level)"
UNKNOWN_TIME = "unknown"
REPORT_COLUMNS = ("image", "action", "set", "file", "width", "height", "quality", "bytes", "reason")
Progress = Callable[[int, int], None]
PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class ZooniverseOptions:
    """How a Zooniverse export is made. Build it with keyword arguments; it checks every value."""

    max_bytes: int = 1_000_000
    max_side: int = 1600
    set_size: int = ADVISED_SET_SIZE
    burst_gap: float | str = 10.0  # seconds, or text like "10s", "2m", "500ms"
    images_per_subject: int = 3
    exclude_people: bool = False
    keep_metadata: Sequence[str] = ()
    top_quality: int = 90
    min_quality: int = 50
    workers: int | None = None

    def __post_init__(self) -> None:
        _whole("max_bytes", self.max_bytes, 2_000, PANOPTES_MAX_BYTES,
               why=" (panoptes-cli refuses larger files)")
        _whole("max_side", self.max_side, 16, 20_000)
        _whole("set_size", self.set_size, 1, 10_000_000)
        _whole("images_per_subject", self.images_per_subject, 1, 20)
        _whole("min_quality", self.min_quality, 1, 95)
        _whole("top_quality", self.top_quality, self.min_quality, 100)
        if self.workers is not None:
            _whole("workers", self.workers, 1, 1024)
        if not isinstance(self.exclude_people, bool):
            raise OptionsError(f"exclude_people must be true or false, not {self.exclude_people!r}")
        object.__setattr__(self, "burst_gap", parse_duration(self.burst_gap))
        object.__setattr__(self, "keep_metadata", check_keep_names(self.keep_metadata))
        if self.set_size > ADVISED_SET_SIZE:
            log.warning("set_size %d is above the %d subjects Zooniverse advises per subject set",
                        self.set_size, ADVISED_SET_SIZE)


@dataclass(frozen=True)
class ExportRow:
    """One line of ``export_report.csv``: what became of one image of the shareable folder."""

    image: str
    action: str  # exported, excluded, withheld, not shared
    set: str = ""
    file: str = ""  # relative to the upload folder
    width: int = 0
    height: int = 0
    quality: int = 0
    bytes: int = 0
    reason: str = ""


@dataclass
class ZooniverseExport:
    """What :func:`export_zooniverse` returns."""

    output: str
    report_csv: str
    manifests: list[str] = field(default_factory=list)
    subjects: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("exported", "excluded", "withheld", "not shared"), 0))
    reasons: dict[str, int] = field(default_factory=dict)
    upload_commands: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    images_per_subject: int = 3
    min_quality: int = 50
    max_bytes: int = 1_000_000

    @property
    def images_per_second(self) -> float:
        done = self.counts["exported"] + self.counts["withheld"]
        return done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        """True when every image the shareable folder holds was exported or deliberately excluded."""
        return self.counts["withheld"] == 0

    def summary(self) -> str:
        c = self.counts
        lines = [
            f"{c['exported']} images in {self.subjects} subjects ({len(self.manifests)} subject sets; "
            f"at most {self.images_per_subject} images per subject, {self.max_bytes:,} bytes per image)",
            f"{c['excluded']} excluded, {c['withheld']} withheld (cannot fit above JPEG quality "
            f"{self.min_quality} or unreadable), {c['not shared']} not in the shareable folder",
            f"{self.elapsed_s:.1f} s ({self.images_per_second:.1f} images/s)",
        ]
        lines += [f"  {count:>6} x {reason}" for reason, count in sorted(self.reasons.items(), key=lambda i: -i[1])[:8]]
        lines.append(f"report: {self.report_csv}")
        if self.upload_commands:
            lines.append("upload each set (create the subject sets first; SET_ID is each one's number):")
            lines += [f"  {command}" for command in self.upload_commands]
        return "\n".join(lines) + "\n"


def export_zooniverse(
    share: PathLike,
    out: PathLike,
    *,
    max_bytes: int = 1_000_000,
    max_side: int = 1600,
    set_size: int = ADVISED_SET_SIZE,
    burst_gap: float | str = 10.0,
    images_per_subject: int = 3,
    exclude_people: bool = False,
    keep_metadata: Sequence[str] = (),
    min_quality: int = 50,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ZooniverseExport:
    """Write Zooniverse subject sets (images + ``manifest.csv`` per set) from the shareable folder ``share``.

    ``share`` is the ``--out`` folder of ``trapblur blur`` or ``trapblur run``; ``out`` a new folder (or an
    earlier Zooniverse export, which is replaced). ``burst_gap`` (seconds or "10s") and
    ``images_per_subject`` group bursts into subjects (``images_per_subject=1``: one image per subject).
    ``keep_metadata`` names EXIF tags to keep (GPS and serial numbers never are). ``progress(done, total)``
    is called from the calling thread after each image. See :mod:`trapblur.export.zooniverse` for the rules.
    """
    options = ZooniverseOptions(
        max_bytes=max_bytes, max_side=max_side, set_size=set_size, burst_gap=burst_gap,
        images_per_subject=images_per_subject, exclude_people=exclude_people,
        keep_metadata=tuple(keep_metadata) if not isinstance(keep_metadata, str) else (keep_metadata,),
        min_quality=min_quality, workers=workers,
    )
    return run_zooniverse_export(read_share(share), Path(out), options, progress)


def run_zooniverse_export(share: Share, out: Path, options: ZooniverseOptions,
                          progress: Progress | None = None) -> ZooniverseExport:
    """:func:`export_zooniverse` with the shareable folder read and the options checked."""
    started = time.perf_counter()
    target = dest.check_destination(out, share.root, KIND)
    rows: dict[str, ExportRow] = {}
    candidates: list[Timed[SharedImage]] = []
    times: dict[str, str] = {}  # capture time as written in the manifest
    for image in share.images:
        excluded = _exclusion(image, share, options)
        if excluded:
            rows[image.relative] = ExportRow(image.relative, "excluded", reason=excluded)
        else:
            timed, times[image.relative] = _timed(image)
            candidates.append(timed)
    for skipped in share.not_shared:
        if skipped.action in ("withheld", "failed", "missing"):
            rows[skipped.relative] = ExportRow(skipped.relative, "not shared",
                                               reason=f"{skipped.action} in the shareable folder: {skipped.reason}")

    subjects = group_bursts(candidates, float(options.burst_gap), options.images_per_subject)
    sets = split_sets(subjects, options.set_size)
    plan = _plan_files(sets)
    staging = dest.start(target)
    result = ZooniverseExport(str(target), str(target / REPORT_NAME), images_per_subject=options.images_per_subject,
                              min_quality=options.min_quality, max_bytes=options.max_bytes)
    try:
        for image, outcome in _encode_all(plan, staging, options, progress):
            rows[image.relative] = outcome
        for number, subject_set in enumerate(sets, start=1):
            written = _write_manifest(staging, _set_name(number), subject_set, rows, times)
            if written:
                result.manifests.append(str(target / _set_name(number) / MANIFEST_NAME))
                result.subjects += written.subjects
                result.upload_commands.append(
                    _upload_command(target / _set_name(number) / MANIFEST_NAME, written.uniform))
        _write_report(staging / REPORT_NAME, share, rows)
        dest.finish(staging, target, KIND, {"share": str(share.root), "options": _describe(options)})
    except BaseException:
        dest.abandon(staging)
        raise
    for row in rows.values():
        result.counts[row.action] = result.counts.get(row.action, 0) + 1
        if row.action == "withheld":
            result.reasons[row.reason] = result.reasons.get(row.reason, 0) + 1
    result.elapsed_s = time.perf_counter() - started
    return result


# ----------------------------------------------------------------------------------------------------------
# Choosing and grouping


def _exclusion(image: SharedImage, share: Share, options: ZooniverseOptions) -> str:
    if not options.exclude_people:
        return ""
    if not image.checked:
        return "excluded: not checked for people (copied without detector results)"
    threshold = share.threshold_for("person")
    conf = image.person_conf()
    if conf is not None and conf >= threshold:
        return f"excluded: person detected (confidence {conf:.3f} >= threshold {threshold:g})"
    return ""


def _timed(image: SharedImage) -> tuple[Timed[SharedImage], str]:
    """The image with its capture time (for bursts) and that time's text (for the manifest)."""
    try:
        with Image.open(image.path) as header:
            taken, text = read_tags(header).capture_time()
    except Exception:  # unreadable header: the encoder will say why; here it only has no time
        taken, text = None, ""
    return Timed(image, image.folder, image.relative, taken), text or UNKNOWN_TIME


@dataclass(frozen=True)
class _Planned:
    image: SharedImage
    set_name: str
    file: str  # relative to the upload folder


def _plan_files(sets: Sequence[Sequence[Sequence[Timed[SharedImage]]]]) -> list[_Planned]:
    """A file name for every image: ``set_NNN/000001.jpg`` ..., never the name of an original in that set.

    panoptes-cli takes any cell naming an existing file as an image to upload; a name that equals a hidden
    ``#original`` value would be uploaded twice.
    """
    planned: list[_Planned] = []
    for number, subject_set in enumerate(sets, start=1):
        name = _set_name(number)
        originals = {t.name.lower() for subject in subject_set for t in subject}
        counter = 0
        for subject in subject_set:
            for timed in subject:
                counter += 1
                file = f"{counter:06d}.jpg"
                if file in originals:
                    file = f"{counter:06d}_trapblur.jpg"
                planned.append(_Planned(timed.item, name, f"{name}/{file}"))
    return planned


def _set_name(number: int) -> str:
    return f"set_{number:03d}"


# ----------------------------------------------------------------------------------------------------------
# Encoding (in a thread pool: the decoders and the encoder release the GIL)


def _encode_all(plan: Sequence[_Planned], staging: Path, options: ZooniverseOptions,
                progress: Progress | None) -> Iterable[tuple[SharedImage, ExportRow]]:
    workers = options.workers or max(1, os.cpu_count() or 1)
    window = 4 * workers
    pending: deque[tuple[_Planned, Future[ExportRow]]] = deque()
    done = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trapblur-export") as pool:
        try:
            for item in plan:
                pending.append((item, pool.submit(export_image, item.image, staging / item.file, item, options)))
                while len(pending) >= window:
                    planned, future = pending.popleft()
                    done += 1
                    yield planned.image, future.result()
                    if progress is not None:
                        progress(done, len(plan))
            while pending:
                planned, future = pending.popleft()
                done += 1
                yield planned.image, future.result()
                if progress is not None:
                    progress(done, len(plan))
        except BaseException:
            for _, future in pending:
                future.cancel()
            raise


def export_image(image: SharedImage, path: Path, planned: _Planned, options: ZooniverseOptions) -> ExportRow:
    """Encode one image of the shareable folder into ``path``. Never raises: problems become withheld rows."""
    base = ExportRow(image.relative, "withheld", set=planned.set_name)
    try:
        data = image.path.read_bytes()
        pixels = upright_pixels(data, options.max_side)
        exif = b""
        if options.keep_metadata:
            keep = set(options.keep_metadata)
            with Image.open(io.BytesIO(data)) as header:
                exif = build_exif_segment(read_tags(header), keep=keep.__contains__)
        encoded = encode_to_fit(pixels, options.max_bytes - len(exif), options.top_quality, options.min_quality)
        final = insert_after_header(encoded.data, exif)
        if len(final) > options.max_bytes:  # cannot happen: the budget left room for the EXIF
            raise ImageError(f"internal error: {len(final)} bytes exceed max_bytes")
        write_bytes_atomically(path, final)
        return replace(base, action="exported", file=planned.file, width=encoded.width, height=encoded.height,
                       quality=encoded.quality, bytes=len(final))
    except ImageError as exc:
        return replace(base, set="", reason=str(exc))
    except OSError as exc:
        return replace(base, set="", reason=f"cannot read or write the file ({exc.strerror or exc})")
    except Exception as exc:  # a bug must not stop the export
        log.exception("internal error on %s", image.path)
        return replace(base, set="", reason=f"internal error ({type(exc).__name__}: {exc})")


# ----------------------------------------------------------------------------------------------------------
# Manifests and the report


@dataclass(frozen=True)
class _WrittenManifest:
    subjects: int
    uniform: bool  # every subject has the same number of images


def _write_manifest(staging: Path, set_name: str, subject_set: Sequence[Sequence[Timed[SharedImage]]],
                    rows: dict[str, ExportRow], times: dict[str, str]) -> _WrittenManifest | None:
    subjects = []
    for subject in subject_set:
        kept = [(t, rows[t.item.relative]) for t in subject if rows[t.item.relative].action == "exported"]
        if kept:
            subjects.append(kept)
    if not subjects:
        return None
    width = max(len(s) for s in subjects)
    widest = next(i for i, s in enumerate(subjects) if len(s) == width)
    ordered = [subjects[widest], *subjects[:widest], *subjects[widest + 1:]]
    header = [f"image_{k}" for k in range(1, width + 1)] + ["#folder"]
    for column in ("#original", "#capture_time", "#blurred"):
        header += [f"{column}_{k}" for k in range(1, width + 1)]
    lines = []
    for subject in ordered:
        files = [row.file.split("/", 1)[1] for _, row in subject]
        originals = [t.item.relative for t, _ in subject]
        taken = [times[t.item.relative] for t, _ in subject]
        blurred = ["true" if t.item.blurred else "false" for t, _ in subject]
        pad = [""] * (width - len(subject))
        folder = subject[0][0].folder or TOP_LEVEL
        lines.append(files + pad + [folder] + originals + pad + taken + pad + blurred + pad)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    write_bytes_atomically(staging / set_name / MANIFEST_NAME, buffer.getvalue().encode("utf-8"))
    return _WrittenManifest(len(subjects), all(len(s) == width for s in subjects))


def _write_report(path: Path, share: Share, rows: dict[str, ExportRow]) -> None:
    order = [image.relative for image in share.images] + [s.relative for s in share.not_shared]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for relative in order:
        row = rows.get(relative)
        if row is not None:
            writer.writerow([getattr(row, column) for column in REPORT_COLUMNS])
    write_bytes_atomically(path, buffer.getvalue().encode("utf-8"))


def _upload_command(manifest: Path, uniform: bool) -> str:
    """The panoptes-cli command for one set; ``--allow-missing`` where subjects have fewer images than the
    widest one (panoptes-cli otherwise stops at the first empty image cell)."""
    missing = "" if uniform else "--allow-missing "
    return f"panoptes subject-set upload-subjects {missing}SET_ID {shlex.quote(str(manifest))}"


def _describe(options: ZooniverseOptions) -> dict[str, object]:
    return {
        "max_bytes": options.max_bytes, "max_side": options.max_side, "set_size": options.set_size,
        "burst_gap_s": options.burst_gap, "images_per_subject": options.images_per_subject,
        "exclude_people": options.exclude_people, "keep_metadata": list(options.keep_metadata),
        "quality": [options.min_quality, options.top_quality],
    }


# ----------------------------------------------------------------------------------------------------------
# Small checks


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)?\s*$", re.I)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60,
                 "mins": 60, "minute": 60, "minutes": 60, "h": 3600, "hour": 3600, "hours": 3600}


def parse_duration(value: float | int | str) -> float:
    """Seconds from a number or a text like "10s", "2.5 s", "1m", "500ms"."""
    if isinstance(value, bool):
        raise OptionsError(f"burst_gap must be a number of seconds or a text like '10s', not {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
    else:
        raise OptionsError(f"burst_gap must be a number of seconds or a text like '10s' or '1m', not {value!r}")
    if not math.isfinite(seconds) or seconds < 0 or seconds > 86_400:
        raise OptionsError(f"burst_gap must be between 0 s and 24 h, not {value!r}")
    return seconds


def _whole(name: str, value: object, low: int, high: int, why: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise OptionsError(f"{name} must be a whole number from {low:,} to {high:,}{why}, not {value!r}")
