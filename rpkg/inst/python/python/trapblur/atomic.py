"""Atomic file writes: readers (and a re-run) see either nothing or a whole file, never a partial one.

Every output file is written to a temporary file in its destination folder and renamed into place. The
temporary files have one distinctive name, ``.trapblur-XXXXXXXX.partial`` (eight random letters, digits or
underscores), whatever the destination's name, so that

* a long file name (up to the file system's 255) can still be written: the temporary name stays short;
* a run that is killed leaves at most such files, and the next run deletes exactly those, never another
  program's files (a browser's ``.x.partial`` download, a sync tool's temporaries).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Callable

from .content import CHUNK, open_input

TEMPORARY_PREFIX = ".trapblur-"
TEMPORARY_SUFFIX = ".partial"
#: mkstemp's random part is eight characters from a-z, 0-9 and "_".
_TEMPORARY_NAME = re.compile(r"\.trapblur-[a-z0-9_]{8}\.partial")


def _file_mode() -> int:
    """The mode an ordinary new file gets (0o666 less the umask); mkstemp alone would make it private."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_NEW_FILE_MODE = _file_mode()


def is_temporary(name: str) -> bool:
    """True for the name of a temporary file trapblur writes (and only for those)."""
    return _TEMPORARY_NAME.fullmatch(name) is not None


def temporary_beside(path: Path) -> tuple[int, Path]:
    """An open descriptor and the name of a new temporary file in ``path``'s folder (created if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=TEMPORARY_SUFFIX, dir=path.parent)
    if hasattr(os, "fchmod"):
        os.fchmod(handle, _NEW_FILE_MODE)
    return handle, Path(name)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    handle, temporary = temporary_beside(path)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomically(path: Path, text: str) -> None:
    write_bytes_atomically(path, text.encode("utf-8"))


def copy_atomically(source: Path, path: Path, verify: Callable[[str], None] | None = None) -> str:
    """Copy ``source``'s bytes and modification time (not its permissions) to ``path``; return their SHA-256.

    The bytes are hashed as they are copied, in one read of the source, so the hash is of exactly the bytes
    written. ``verify(sha256)`` is called before the copy is renamed into place: if it raises, nothing is
    written. ``source`` must be a regular file (see :func:`trapblur.content.open_input`).
    """
    with open_input(source) as reader:
        status = os.fstat(reader.fileno())
        handle, temporary = temporary_beside(path)
        try:
            digest = hashlib.sha256()
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            with os.fdopen(handle, "wb") as writer:
                while count := reader.readinto(buffer):
                    digest.update(view[:count])
                    writer.write(view[:count])
            sha256 = digest.hexdigest()
            if verify is not None:
                verify(sha256)
            # Keep the modification time: some tools read dates from it.
            os.utime(temporary, ns=(status.st_atime_ns, status.st_mtime_ns))
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    return sha256


def link_atomically(source: Path, path: Path) -> None:
    """Hard-link ``path`` to ``source``; raises OSError where links are not possible (other disk, FAT)."""
    handle, temporary = temporary_beside(path)
    os.close(handle)
    temporary.unlink()
    try:
        os.link(source, temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def remove_temporary_files(folder: Path) -> int:
    """Delete the temporary files a killed trapblur run left under ``folder``; returns how many.

    Only names :func:`is_temporary` recognises are touched; every other file is left alone.
    """
    removed = 0
    for directory, _, names in os.walk(folder):
        for name in names:
            if is_temporary(name):
                candidate = Path(directory) / name
                if candidate.is_file() and not candidate.is_symlink():
                    candidate.unlink(missing_ok=True)
                    removed += 1
    return removed
