"""The input folder and the results file, matched: which entry describes which image.

How ``file`` entries are matched to images (all files are found by walking the image folder; an entry's
path is never opened as given, so an entry cannot make trapblur read outside the folder):

1. Backslashes become slashes and ``./`` prefixes are dropped.
2. A relative entry is taken relative to the image folder. One that climbs out of it (``../x.jpg``) is
   refused and reported.
3. An absolute entry (``/home/kyra/cams/A/x.jpg``, ``D:/cams/A/x.jpg``) made on this machine inside the
   image folder is made relative to it. One from another machine is matched by its longest trailing part
   that names an image in the folder (``cams/A/x.jpg``, then ``A/x.jpg``, then ``x.jpg``).
4. If nothing matches exactly, a match that differs only in letter case is used when it is unique (results
   made on Windows or macOS).
5. An image that two different entries point to is withheld: the results are ambiguous about it.

Symbolic links in the folder that point outside it are withheld, never read.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .results import ImageEntry, Results

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff"}
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
    """A results entry with no image: missing from the folder, or refused because it points outside it."""

    entry: ImageEntry
    action: str  # "missing" or "refused"
    reason: str


@dataclass
class Dataset:
    files: list[ImageFile]
    unmatched: list[UnmatchedEntry]


def build_dataset(root: Path, results: Results) -> Dataset:
    """Walk ``root`` and attach each results entry to the file it describes."""
    found = list(walk_folder(root))
    by_path = {f.relative: f for f in found}
    by_lower: dict[str, list[str]] = {}
    for relative in by_path:
        by_lower.setdefault(relative.lower(), []).append(relative)

    entries_for: dict[str, list[ImageEntry]] = {}
    unmatched: list[UnmatchedEntry] = []
    for entry in results.images:
        relative, problem = match_entry(entry.file, root, by_path, by_lower)
        if relative is None:
            action = "refused" if problem and "outside" in problem else "missing"
            unmatched.append(UnmatchedEntry(entry, action, problem or "no such image in the folder"))
        else:
            entries_for.setdefault(relative, []).append(entry)

    files = []
    for image in found:
        entries = entries_for.get(image.relative, [])
        if len(entries) > 1 and any(e != entries[0] for e in entries[1:]):
            files.append(ImageFile(image.relative, image.path, None,
                                   image.problem or f"listed {len(entries)} times in the results, with different detections"))
        else:
            files.append(ImageFile(image.relative, image.path, entries[0] if entries else None, image.problem))
    return Dataset(files, unmatched)


def walk_folder(root: Path) -> Iterable[ImageFile]:
    """Every file under ``root`` in sorted order (system files skipped), as :class:`ImageFile`."""
    resolved_root = root.resolve()
    for directory, subdirectories, names in os.walk(root):
        subdirectories.sort()
        here = Path(directory)
        for name in sorted(names):
            if name.lower() in SYSTEM_FILES or name.startswith("._"):
                continue
            path = here / name
            relative = path.relative_to(root).as_posix()
            problem = None
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(resolved_root):
                    problem = "symbolic link pointing outside the image folder: not read"
            yield ImageFile(relative, path, None, problem)


def match_entry(
    file: str, root: Path, by_path: dict[str, ImageFile], by_lower: dict[str, list[str]]
) -> tuple[str | None, str | None]:
    """The relative path of the image ``file`` names, or None and why not."""
    text = file.replace("\\", "/")
    absolute = text.startswith("/") or bool(_DRIVE.match(text))
    if not absolute:
        normal = posixpath.normpath(text)
        if normal == ".." or normal.startswith("../"):
            return None, "path climbs outside the image folder: refused"
        return _lookup(normal, by_path, by_lower)
    local = Path(file)
    if local.is_absolute():
        try:
            relative = local.resolve().relative_to(root.resolve()).as_posix()
            return _lookup(relative, by_path, by_lower)
        except ValueError:
            pass
    parts = [p for p in text.split("/") if p and p != "." and not _DRIVE.match(p + "/")]
    if ".." in parts:
        return None, "absolute path with '..' components: refused"
    for start in range(len(parts)):
        relative, _ = _lookup("/".join(parts[start:]), by_path, by_lower)
        if relative is not None:
            return relative, None
    return None, "absolute path from another machine: no image in the folder matches its trailing part"


def _lookup(relative: str, by_path: dict[str, ImageFile], by_lower: dict[str, list[str]]) -> tuple[str | None, str | None]:
    if relative in by_path:
        return relative, None
    candidates = by_lower.get(relative.lower(), [])
    if len(candidates) == 1:
        return candidates[0], None
    return None, None
