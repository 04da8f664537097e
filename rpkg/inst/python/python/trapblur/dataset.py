"""The input folder and the results file, matched: which entry describes which image.

How ``file`` entries are matched to images (all files are found by walking the image folder; an entry's
path is never opened as given, so an entry cannot make trapblur read outside the folder):

1. A path is read with ``/`` as the separator and, when it holds backslashes, also with ``\\`` as one
   (results made on Windows). On Linux a backslash can be part of a file name, so both readings are tried;
   if they name two different images the entry is ambiguous and matches neither.
2. A relative entry is taken relative to the image folder. One that climbs out of it (``../x.jpg``) is
   refused and reported.
3. An absolute entry made on this machine inside the image folder is made relative to it. One that
   points to another folder *on this machine* (the file, or its folder, exists here) is refused: those
   results were made for that folder, whose pictures may share this folder's names (``IMG_0001.JPG``).
4. Absolute entries from another machine (``D:\\cams\\A\\x.jpg``, ``/home/kyra/cams/A/x.jpg``) are
   matched by their trailing part after removing that machine's folder, which is inferred from *all* such
   entries at once: the one prefix that explains the most entries (none when another explains as many).
   Entries are matched only through it: ``D:/cams/other/IMG_0001.JPG`` is not matched to the folder's
   top-level ``IMG_0001.JPG`` when ``D:/cams`` is the prefix, and an entry not under it is for another
   folder (results merged from several drives are matched for one of them only). An entry whose trailing
   parts could name two different images is ambiguous and not matched. How many entries were matched
   this way, and under which prefix, is reported.
5. If nothing matches exactly, a match that differs only in Unicode normalisation (macOS stores names
   decomposed, NFD; results files are usually composed, NFC), and then one that also differs in letter
   case, is used when it is unique (results made on Windows or macOS).
6. An image that two different entries point to is withheld: the results are ambiguous about it.
7. An entry too malformed to name a file is reported on its own row ("malformed"); while there is one,
   images not listed in the results are withheld even with ``copy_unlisted``: the broken entry may be theirs.
8. An entry that matches no image *for sure* but could name some (case-only twins, a backslash that may or
   may not be a separator, a path from another machine under another folder than the others) makes
   those images withheld even with ``copy_unlisted``: it may be theirs, and say there is a person in them.

Symbolic links in the folder that point outside it are withheld, never read. So are FIFOs, sockets and
devices, whatever their names (opening a FIFO would wait forever). A sub-folder that cannot be listed
(permissions, a failing card) is reported as failed, and so is every results entry inside it: its images
are not silently "missing".
"""

from __future__ import annotations

import os
import posixpath
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .content import file_kind
from .errors import OutputFolderError, ResultsMismatchError, os_error_reason
from .results import ImageEntry, Results

#: JPEG under every name cameras and editors give it (JFIF files are JPEGs), PNG and TIFF; any letter case.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif", ".jfi", ".jif", ".png", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".wmv", ".m4v", ".mts", ".3gp", ".mpg", ".mpeg"}
OTHER_IMAGE_SUFFIXES = {".bmp", ".gif", ".webp", ".heic", ".heif", ".jp2", ".dng", ".cr2", ".nef", ".arw", ".raw"}
SYSTEM_FILES = {"thumbs.db", ".ds_store", "desktop.ini"}
_DRIVE = re.compile(r"^[A-Za-z]:/")


@dataclass(frozen=True)
class ImageFile:
    """A file found in the image folder, with the results entry that describes it (if any)."""

    relative: str  # POSIX-style path relative to the image folder
    path: Path
    entry: ImageEntry | None = None
    problem: str | None = None  # set when the file must be withheld whatever the results say
    listed: bool = False  # some results entry names this file (even if the file is withheld)

    @property
    def kind(self) -> str:
        suffix = posixpath.splitext(self.relative)[1].lower()
        if suffix in IMAGE_SUFFIXES:
            return "image"
        if suffix in VIDEO_SUFFIXES:
            return "video"
        if suffix in OTHER_IMAGE_SUFFIXES:
            return "unsupported image"
        return "other"


@dataclass(frozen=True)
class UnmatchedEntry:
    """A results entry with no image: missing from the folder, refused because it points outside it, or
    too malformed to name a file."""

    entry: ImageEntry
    action: str  # "missing", "refused" or "malformed"
    reason: str
    index: int = -1  # position in the results file's "images" list

    @property
    def label(self) -> str:
        """What the report's ``input`` column shows: the entry's path, or ``images[N]`` when it has none."""
        return self.entry.file or f"images[{self.index}]"


@dataclass(frozen=True)
class UnreadableFolder:
    """A folder under the image folder that could not be listed: nothing in it was read."""

    relative: str  # POSIX-style path relative to the image folder
    reason: str


@dataclass
class Dataset:
    files: list[ImageFile]
    unmatched: list[UnmatchedEntry]
    #: The other machine's folder prefixes removed to match entries by their trailing part, and how many
    #: entries each matched, in the order they were inferred.
    trailing_part_prefixes: dict[str, int] = field(default_factory=dict)

    @property
    def matched_by_trailing_part(self) -> int:
        return sum(self.trailing_part_prefixes.values())
    #: Sub-folders that could not be listed (nothing in them was read).
    unreadable: list[UnreadableFolder] = field(default_factory=list)


def build_dataset(root: Path, results: Results) -> Dataset:
    """Walk ``root`` and attach each results entry to the file it describes."""
    unreadable: list[UnreadableFolder] = []
    found = list(walk_folder(root, unreadable.append))
    index = _Index(found)
    resolved_root = root.resolve()

    entries_for: dict[str, list[ImageEntry]] = {}
    unmatched: list[UnmatchedEntry] = []
    foreign: list[tuple[int, ImageEntry, list[list[str]]]] = []
    could_name: dict[str, str] = {}  # image -> an entry that may describe it but matched nothing for sure
    for position, entry in enumerate(results.images):
        if not entry.file:
            unmatched.append(UnmatchedEntry(entry, "malformed", entry.problem or "no file named", position))
            continue
        located = _locate(entry.file, resolved_root, index)
        if isinstance(located, _Found):
            entries_for.setdefault(located.relative, []).append(entry)
        elif isinstance(located, _Unmatched):
            unmatched.append(_unmatched(entry, located.action, located.reason, position, unreadable))
            for relative in located.could_name:
                could_name.setdefault(relative, entry.file)
        else:
            foreign.append((position, entry, located))

    prefixes: dict[str, int] = {}
    for position, entry, outcome in _match_foreign(foreign, index):
        if isinstance(outcome, _Unmatched):
            unmatched.append(_unmatched(entry, outcome.action, outcome.reason, position, unreadable))
            for relative in outcome.could_name:
                could_name.setdefault(relative, entry.file)
        else:
            relative, prefix = outcome
            entries_for.setdefault(relative, []).append(entry)
            prefixes[prefix] = prefixes.get(prefix, 0) + 1
    unmatched.sort(key=lambda u: u.index)

    nameless = sum(1 for u in unmatched if u.action == "malformed")
    files = []
    for image in found:
        entries = entries_for.get(image.relative, [])
        problem = image.problem
        entry = entries[0] if entries else None
        if len(entries) > 1 and any(_says(e) != _says(entries[0]) for e in entries[1:]):
            problem = problem or f"listed {len(entries)} times in the results, with different detections"
            entry = None
        elif not entries and image.relative in could_name and image.kind == "image":
            problem = problem or (
                f"not matched to a results entry for sure, but the entry {could_name[image.relative]!r} (matched "
                "to no image) could name it and may describe it: not written, even with copy_unlisted"
            )
        elif not entries and nameless and image.kind == "image":
            problem = problem or (
                f"not in the results, and {nameless} results entr{'y names' if nameless == 1 else 'ies name'} "
                "no usable file (one may be this image's): not written, even with copy_unlisted"
            )
        files.append(ImageFile(image.relative, image.path, entry, problem, listed=bool(entries)))
    return Dataset(files, unmatched, prefixes, unreadable)


def _says(entry: ImageEntry) -> tuple:
    """What an entry says about its image, whatever path it names it by."""
    return entry.failure, entry.problem, entry.detections


def check_listing(dataset: Dataset, root: Path, source: str, copy_unlisted: bool = False) -> list[str]:
    """Warnings for the run's summary about how the results cover the folder, most important first.

    Raises :class:`ResultsMismatchError` when the folder holds images and not one of them is listed:
    the results file is for another folder (or the folder is the wrong one), and a run would withhold
    everything, or, with ``copy_unlisted``, copy every picture unchecked.
    """
    images = [f for f in dataset.files if f.kind == "image"]
    listed = sum(1 for f in images if f.listed)
    if images and not listed:
        raise ResultsMismatchError(f"{source}: {_mismatch(dataset, root, len(images))}")
    warnings = []
    if listed * 2 < len(images):
        fate = ("copied without being checked for people, because copy_unlisted is on" if copy_unlisted
                else "withheld (not known to be person-free)")
        warnings.append(
            f"only {listed} of the {len(images)} images in {root} are listed in the results file {source}; "
            f"the other {len(images) - listed} are {fate}. Are these the results for this folder?"
        )
    prefixes = dataset.trailing_part_prefixes
    for prefix, count in prefixes.items():
        last = _last_folder(prefix)
        if last is not None and last.casefold() != root.name.casefold():
            warnings.append(
                f"{count} results entries were made on another machine for a folder named {last!r} "
                f"({prefix}) and matched to this folder, {root.name!r}, by their trailing part: check that "
                "these results describe these pictures (cameras reuse names like IMG_0001.JPG)"
            )
    return warnings


def _mismatch(dataset: Dataset, root: Path, images: int) -> str:
    entries = len(dataset.unmatched)
    if not entries:
        return (f"the results list no images, and the folder {root} has {images}: wrong results file? "
                "Nothing was written")
    kinds: dict[str, int] = {}
    for u in dataset.unmatched:
        kinds[u.action] = kinds.get(u.action, 0) + 1
    counted = ", ".join(f"{n} {action}" for action, n in sorted(kinds.items()))
    examples = "; ".join(f"{u.label!r}: {u.reason}" for u in dataset.unmatched[:3])
    return (f"none of the {images} images in {root} is listed in these results ({entries} entries: {counted}; "
            f"for example {examples}). Wrong results file, or wrong image folder? Nothing was written")


def _last_folder(prefix: str) -> str | None:
    parts = [p for p in prefix.split("/") if p]
    if not parts or (len(parts) == 1 and _DRIVE.match(parts[0] + "/")):
        return None  # the root of a drive: no folder name to compare
    return parts[-1]


def walk_folder(root: Path, unreadable: Callable[[UnreadableFolder], None] | None = None) -> Iterable[ImageFile]:
    """Every file under ``root`` in sorted order (system files skipped), as :class:`ImageFile`.

    Files that must not be opened get a ``problem``. Sub-folders that cannot be listed are passed to
    ``unreadable``; the image folder itself not being listable raises :class:`OutputFolderError`.
    """
    resolved_root = root.resolve()

    def failed(exc: OSError) -> None:
        folder = Path(exc.filename) if exc.filename else root
        relative = folder.relative_to(root).as_posix() if folder != root else "."
        if relative == ".":
            raise OutputFolderError(f"{root}: the image folder cannot be listed: {os_error_reason(exc)}")
        if unreadable is not None:
            unreadable(UnreadableFolder(relative, os_error_reason(exc)))

    for directory, subdirectories, names in os.walk(root, onerror=failed):
        subdirectories.sort()
        here = Path(directory)
        for name in sorted(names):
            if name.lower() in SYSTEM_FILES or name.startswith("._"):
                continue
            path = here / name
            relative = path.relative_to(root).as_posix()
            yield ImageFile(relative, path, None, _problem(path, resolved_root))


def _problem(path: Path, resolved_root: Path) -> str | None:
    """Why the file must not be read at all, or None. Never opens it."""
    try:
        if path.is_symlink() and not path.resolve().is_relative_to(resolved_root):
            return "symbolic link pointing outside the image folder: not read"
        kind = file_kind(path.stat().st_mode)
    except OSError as exc:
        return f"cannot be examined ({os_error_reason(exc)}): not read"
    if kind is not None:
        return f"{kind}, not a regular file: not read"
    return None


def _unmatched(entry: ImageEntry, action: str, reason: str, position: int,
               unreadable: list[UnreadableFolder]) -> UnmatchedEntry:
    """An entry with no image; "missing" becomes "failed" when it points into a folder that could not be listed."""
    folder = _inside_unreadable(entry.file, unreadable) if action == "missing" else None
    if folder is not None:
        action, reason = "failed", f"in the folder {folder.relative!r}, which could not be listed ({folder.reason})"
    return UnmatchedEntry(entry, action, reason, position)


def _inside_unreadable(file: str, unreadable: list[UnreadableFolder]) -> UnreadableFolder | None:
    """The unlistable folder a results path points into, if any (relative or trailing-part match)."""
    text = "/" + posixpath.normpath(file.replace("\\", "/")).lstrip("/")
    for folder in unreadable:
        if f"/{folder.relative}/" in text:
            return folder
    return None


# ----------------------------------------------------------------------------------------------------------
# Matching one entry


@dataclass(frozen=True)
class _Found:
    relative: str


@dataclass(frozen=True)
class _Unmatched:
    action: str
    reason: str
    could_name: tuple[str, ...] = ()  # images the entry may describe though it matched none for sure


class _Index:
    """The folder's files by exact relative path, by Unicode-normalised (NFC) path, and by that lower-cased."""

    def __init__(self, files: Iterable[ImageFile]) -> None:
        self.by_path = {f.relative: f for f in files}
        self.by_normal: dict[str, list[str]] = {}
        self.by_lower: dict[str, list[str]] = {}
        for relative in self.by_path:
            normal = _nfc(relative)
            self.by_normal.setdefault(normal, []).append(relative)
            self.by_lower.setdefault(normal.lower(), []).append(relative)

    def lookup(self, relative: str) -> str | None:
        """The one image ``relative`` names: exactly, else with another normalisation, else in another
        letter case; None when there is none, or more than one at the first level that finds any."""
        if relative in self.by_path:
            return relative
        normal = _nfc(relative)
        for candidates in (self.by_normal.get(normal, []), self.by_lower.get(normal.lower(), [])):
            if candidates:
                return candidates[0] if len(candidates) == 1 else None
        return None

    def could_name(self, relative: str) -> list[str]:
        """Every image ``relative`` might name, in any normalisation or letter case."""
        return self.by_lower.get(_nfc(relative).lower(), [])


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _readings(file: str) -> list[str]:
    """``file`` split at ``/`` only, and also at backslashes when it has any (one reading per way)."""
    return [file, file.replace("\\", "/")] if "\\" in file else [file]


def _is_absolute(reading: str) -> bool:
    return reading.startswith("/") or bool(_DRIVE.match(reading))


def _locate(file: str, resolved_root: Path, index: _Index) -> _Found | _Unmatched | list[list[str]]:
    """Match an entry that can be matched on its own; for one from another machine, the parts of each
    reading of its path (matched later, with the others)."""
    readings = _readings(file)
    if not any(_is_absolute(r) for r in readings):
        found, loose = set(), set()
        for reading in readings:
            normal = posixpath.normpath(reading)
            if normal == ".." or normal.startswith("../"):
                return _Unmatched("refused", "path climbs outside the image folder: refused")
            relative = index.lookup(normal)
            if relative is not None:
                found.add(relative)
            loose.update(index.could_name(normal))
        return _one(found, file, loose)
    local = Path(file)
    if local.is_absolute():  # a path of this machine's kind: made here, or elsewhere on a same-kind system
        try:
            resolved = local.resolve()
        except (OSError, RuntimeError, ValueError) as exc:  # ValueError: a NUL character (JSON's \u0000)
            return _Unmatched("refused", f"absolute path that cannot be checked on this machine ({exc}): refused")
        if resolved.is_relative_to(resolved_root):
            inside = resolved.relative_to(resolved_root).as_posix()
            relative = index.lookup(inside)
            if relative is None:
                return _Unmatched("missing", "no such image in the folder", tuple(index.could_name(inside)))
            return _Found(relative)
        here = next((p for p in (local, local.parent) if p != Path(local.anchor) and _exists(p)), None)
        if here is not None:
            return _Unmatched(
                "refused",
                f"absolute path to another folder on this machine ({here} exists): these results were made "
                "for that folder, not this one; refused",
            )
    parts_of_readings = []
    for reading in readings:
        if not _is_absolute(reading):
            continue
        parts = [p for p in reading.split("/") if p and p != "."]
        if ".." in parts:
            return _Unmatched("refused", "absolute path with '..' components: refused")
        parts_of_readings.append(parts)
    return parts_of_readings


def _exists(path: Path) -> bool:
    """Whether ``path`` exists here; a path that cannot be checked (no permission) counts as existing."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return True


def _one(found: set[str], file: str, loose: set[str]) -> _Found | _Unmatched:
    if len(found) == 1:
        return _Found(next(iter(found)))
    if not found:
        if loose:
            names = " and ".join(repr(f) for f in sorted(loose))
            return _Unmatched("missing", f"ambiguous: {file!r} could name {names}; matched to neither",
                              tuple(sorted(loose)))
        return _Unmatched("missing", "no such image in the folder")
    names = " and ".join(repr(f) for f in sorted(found))
    return _Unmatched("missing", f"ambiguous: {file!r} can name {names}; matched to neither",
                      tuple(sorted(found | loose)))


def _match_foreign(
    entries: list[tuple[int, ImageEntry, list[list[str]]]], index: _Index
) -> list[tuple[int, ImageEntry, _Unmatched | tuple[str, str]]]:
    """Match entries from other machines by their trailing parts, with the machine's folder inferred from
    all of them together (see the module's docstring). Each outcome is ``(relative path, prefix)`` or why
    not."""
    candidates: list[list[tuple[tuple[str, ...], str, str]]] = []  # per entry: (prefix key, prefix, relative)
    support: dict[tuple[str, ...], int] = {}
    shown: dict[tuple[str, ...], str] = {}
    for _, _, readings in entries:
        mine = []
        for parts in readings:
            for start in range(len(parts)):
                relative = index.lookup("/".join(parts[start:]))
                if relative is not None:
                    prefix = parts[:start]
                    mine.append((tuple(p.casefold() for p in prefix), _display(prefix), relative))
        candidates.append(mine)
        for key, prefix, _ in mine:
            shown.setdefault(key, prefix)
        for key in {key for key, _, _ in mine}:
            support[key] = support.get(key, 0) + 1

    accepted = _infer_prefix(support)
    outcomes: list[tuple[int, ImageEntry, _Unmatched | tuple[str, str]]] = []
    for (position, entry, readings), mine in zip(entries, candidates):
        distinct = {relative for _, _, relative in mine}
        if len(distinct) > 1:
            names = " and ".join(repr(r) for r in sorted(distinct))
            reason = f"ambiguous: this path from another machine could name {names}; matched to neither"
            outcomes.append((position, entry, _Unmatched("missing", reason, tuple(sorted(distinct)))))
            continue
        chosen = next(((prefix, relative) for key, prefix, relative in mine if key in accepted), None)
        if chosen is not None:
            outcomes.append((position, entry, (chosen[1], chosen[0])))
            continue
        if accepted and any(tuple(p.casefold() for p in parts[:len(accepted[0])]) == accepted[0] for parts in readings):
            reason = (f"absolute path from another machine: no image at its place under that machine's folder "
                      f"{shown[accepted[0]]!r} (inferred from the other entries)")
        elif accepted and mine:
            reason = (f"absolute path from another machine, not under {shown[accepted[0]]!r}, the folder "
                      "the other entries were made for: results for another folder; not matched")
        elif mine:
            reason = ("absolute path from another machine: the entries from other machines point to different "
                      "folders equally often, so which one is this folder is ambiguous; not matched")
        else:
            reason = "absolute path from another machine: no image in the folder matches its trailing part"
        outcomes.append((position, entry, _Unmatched("missing", reason, tuple(sorted(distinct)))))
    return outcomes


def _infer_prefix(support: dict[tuple[str, ...], int]) -> list[tuple[str, ...]]:
    """The other machine's image folder: the prefix that explains the most entries, unless another prefix
    explains as many (then nobody can say which is this folder, and none is taken)."""
    ranked = sorted(support.items(), key=lambda item: -item[1])
    if not ranked or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
        return []
    return [ranked[0][0]]


def _display(prefix: list[str]) -> str:
    text = "/".join(prefix)
    return text if prefix and _DRIVE.match(prefix[0] + "/") else "/" + text
