"""What an output was made from: the content of input files, by SHA-256, read safely.

Why content and not modification times
---------------------------------------
An image replaced with ``cp -p`` or ``rsync -a`` keeps its modification time, SD cards (FAT/exFAT) store
times to 2 s and no inode numbers, and network shares report times and change times as they please. A
decision "this image is the one the detections (or the earlier output) were made from" taken on ``stat``
alone can therefore send a new person out under an old image's detections. Every such decision in trapblur
compares the SHA-256 of the file's bytes instead:

* ``detect`` records the hash of each image it looked at (results ``info["trapblur_content_sha256"]``,
  ``{file: sha256}``); a checkpoint or earlier results are reused only for images whose bytes still hash
  the same, and the blurring core withholds an image whose bytes differ from what its detections were made
  for.
* ``blur`` records the hash of each input it wrote an output from (the report's ``input_sha256`` column);
  a re-run skips an image only when its bytes still hash the same.

SHA-256 runs at about 1.9 GB/s on a core with SHA instructions (``benchmarks/bench_content.py``): 1.6 ms
for a 3 MB camera JPEG, hashed in the same pass that reads it for copying or blurring.

Reading safely
--------------
:func:`open_input` never blocks: a FIFO, socket or device named ``IMG_0001.JPG`` is refused before a byte
is read (opening a FIFO for reading would otherwise wait forever for a writer).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Iterable, Mapping

from .errors import ImageError

HASH_NAME = "sha256"
#: Key of the ``{file: sha256}`` map that trapblur-made results carry in their ``info`` block.
CONTENT_KEY = "trapblur_content_sha256"
CHUNK = 1 << 20
_NON_BLOCKING = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def digest_bytes(data: bytes | memoryview) -> str:
    """The hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def file_kind(mode: int) -> str | None:
    """None for a regular file, else what it is ("a named pipe (FIFO)", "a socket", "a device", ...)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def open_input(path: Path) -> BinaryIO:
    """``path`` opened for reading, refusing (without blocking) anything that is not a regular file."""
    handle = os.open(path, os.O_RDONLY | _NON_BLOCKING)
    try:
        kind = file_kind(os.fstat(handle).st_mode)
        if kind is not None:
            raise ImageError(f"{kind}, not a regular file: not read")
        return io.open(handle, "rb", closefd=True)
    except BaseException:
        os.close(handle)
        raise


def read_input(path: Path) -> bytes:
    """The bytes of the regular file ``path`` (see :func:`open_input`)."""
    with open_input(path) as stream:
        return stream.read()


def hash_file(path: Path) -> str:
    """The hex SHA-256 of the regular file ``path``, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open_input(path) as stream:
        while count := stream.readinto(buffer):
            digest.update(view[:count])
    return digest.hexdigest()


def content_map(info: Mapping[str, object]) -> dict[str, str]:
    """The ``{file: sha256}`` map a results ``info`` block records, or {} (other tools record none)."""
    recorded = info.get(CONTENT_KEY)
    if not isinstance(recorded, Mapping):
        return {}
    return {str(k): v for k, v in recorded.items() if isinstance(v, str) and len(v) == 64}


def unchanged(recorded: Mapping[str, str], files: Iterable[tuple[str, Path]], workers: int | None = None) -> set[str]:
    """The names among ``files`` (name, path) whose bytes still hash to what ``recorded`` says.

    Files are hashed in a few threads (hashlib releases the GIL); one that cannot be read counts as changed.
    """
    candidates = [(name, path) for name, path in files if name in recorded]

    def same(item: tuple[str, Path]) -> bool:
        name, path = item
        try:
            return hash_file(path) == recorded[name]
        except (OSError, ImageError):
            return False

    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        return {name for (name, _), ok in zip(candidates, pool.map(same, candidates)) if ok}
