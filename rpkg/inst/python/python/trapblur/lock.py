"""One run at a time per output folder: a lock on ``<output>/.trapblur/lock``.

Two runs writing into the same folder would interleave their journals and replace each other's files.
The lock is an operating-system lock on an open file (``flock`` on Linux and macOS, ``msvcrt.locking`` on
Windows), not the file's existence: the system releases it when the process ends, however it ends, so a run
that crashed or was killed leaves nothing that makes the next run refuse the folder. The file itself stays
(deleting a locked file would let a third run lock a new file of the same name) and holds the process id of
the run that last took it, for the message the second run shows.

Where the file system cannot lock at all (some network shares), the run goes on with a warning.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

from .errors import OutputFolderError

log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt
except ImportError:  # everything but Windows
    msvcrt = None  # type: ignore[assignment]

_BUSY = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, getattr(errno, "EDEADLOCK", errno.EDEADLK)}
#: Windows locks are mandatory byte ranges: lock one byte far past the process id, so that the holder can
#: still rewrite the id and another process can still read it.
_WINDOWS_LOCK_OFFSET = 1 << 20


class OutputLock:
    """Held from :meth:`acquire` to :meth:`release` (or the end of a ``with`` block)."""

    def __init__(self, path: Path, folder: Path) -> None:
        self.path = path
        self.folder = folder  # named in the message when another run holds the lock
        self._handle: int | None = None

    def acquire(self) -> OutputLock:
        """Take the lock or raise :class:`OutputFolderError`; OSError when the file cannot be created."""
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
        try:
            if not _try_lock(handle, self.path):
                raise OutputFolderError(
                    f"{self.folder}: another trapblur run ({_holder(handle)}) is writing to this output folder; "
                    "wait for it to finish, or stop it and run again"
                )
            os.ftruncate(handle, 0)
            os.lseek(handle, 0, os.SEEK_SET)
            os.write(handle, f"{os.getpid()}\n".encode())
        except BaseException:
            os.close(handle)  # closing releases a lock taken just before a failed write
            raise
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            os.close(handle)  # releases the lock (flock and msvcrt locks belong to the open file)

    def __enter__(self) -> OutputLock:
        return self.acquire() if self._handle is None else self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_lock(handle: int, path: Path) -> bool:
    """True when locked; False when another process holds it; True with a warning when locks don't work."""
    try:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        elif msvcrt is not None:
            os.lseek(handle, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
        else:  # pragma: no cover - no CPython platform lacks both
            log.warning("%s: this system offers no file locks; make sure only one run writes here", path)
        return True
    except OSError as exc:
        if exc.errno in _BUSY:
            return False
        log.warning("%s: the file system cannot lock files (%s); make sure only one run writes here",
                    path, exc.strerror or exc)
        return True


def _holder(handle: int) -> str:
    try:
        os.lseek(handle, 0, os.SEEK_SET)
        pid = int(os.read(handle, 32).decode("ascii").strip())
        return f"process {pid}"
    except (OSError, ValueError):
        return "another process"
