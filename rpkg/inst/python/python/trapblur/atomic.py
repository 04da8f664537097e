"""Atomic file writes: readers (and a re-run) see either nothing or a whole file, never a partial one.

Every output file is written to a hidden temporary file in its destination folder and renamed into place.
A run that is killed leaves at most ``.NAME.*.partial`` files, which the next run ignores and cleans up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PARTIAL_SUFFIX = ".partial"


def _file_mode() -> int:
    """The mode an ordinary new file gets (0o666 less the umask); mkstemp alone would make it private."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_NEW_FILE_MODE = _file_mode()


def _temporary_beside(path: Path) -> tuple[int, Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent)
    if hasattr(os, "fchmod"):
        os.fchmod(handle, _NEW_FILE_MODE)
    return handle, Path(name)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    handle, temporary = _temporary_beside(path)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomically(path: Path, text: str) -> None:
    write_bytes_atomically(path, text.encode("utf-8"))


def copy_atomically(source: Path, path: Path) -> None:
    """Copy ``source``'s bytes and modification time (not its permissions) to ``path``."""
    handle, temporary = _temporary_beside(path)
    os.close(handle)
    try:
        shutil.copyfile(source, temporary)
        stat = source.stat()  # keep the modification time: some tools read dates from it
        os.utime(temporary, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def link_atomically(source: Path, path: Path) -> None:
    """Hard-link ``path`` to ``source``; raises OSError where links are not possible (other disk, FAT)."""
    handle, temporary = _temporary_beside(path)
    os.close(handle)
    temporary.unlink()
    try:
        os.link(source, temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def remove_partial_files(folder: Path) -> int:
    """Delete temporary files a killed run left under ``folder``; returns how many."""
    removed = 0
    for partial in folder.rglob(f".*{PARTIAL_SUFFIX}"):
        if partial.is_file():
            partial.unlink(missing_ok=True)
            removed += 1
    return removed
