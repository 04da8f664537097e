"""The export's destination folder: built beside it under a temporary name, then renamed into place.

An interrupted export leaves only a hidden ``.NAME.partial-*`` folder (removed by the next export), never a
folder that looks finished. A destination that already holds an export of the same kind (it has the marker
file) is replaced whole; any other non-empty folder is refused, so that no one's files are deleted.
The destination may not be, contain or sit inside the shareable folder: the shareable folder stays exactly
as trapblur wrote it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .._version import __version__
from ..atomic import write_text_atomically
from ..errors import ExportError

MARKER = ".trapblur-export.json"


def check_destination(destination: Path, share_root: Path, kind: str) -> Path:
    """The resolved destination, after checking it can take an export of ``kind``."""
    target = destination.resolve()
    if target == share_root or target.is_relative_to(share_root):
        raise ExportError(f"{destination}: the export must not be written inside the shareable folder {share_root}")
    if share_root.is_relative_to(target):
        raise ExportError(f"{destination}: the export folder must not contain the shareable folder {share_root}")
    if target.exists() and not target.is_dir():
        raise ExportError(f"{destination}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()):
        marker = target / MARKER
        kind_found = _marker_kind(marker)
        if kind_found is None:
            raise ExportError(
                f"{destination}: the folder is not empty and was not made by trapblur export; "
                "choose an empty or new folder"
            )
        if kind_found != kind:
            raise ExportError(f"{destination}: holds a {kind_found} export, not a {kind} one; choose another folder")
    return target


def start(target: Path) -> Path:
    """A new, empty staging folder beside ``target`` (stale ones from interrupted exports are removed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))


def finish(staging: Path, target: Path, kind: str, details: dict[str, Any]) -> None:
    """Mark ``staging`` as a finished export and put it in ``target``'s place."""
    document = {"trapblur_version": __version__, "kind": kind, **details}
    write_text_atomically(staging / MARKER, json.dumps(document, indent=1, ensure_ascii=False))
    staging.chmod(_folder_mode())
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        target.rename(old / "previous")
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(target)


def abandon(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def _folder_mode() -> int:
    """The mode an ordinary new folder gets (0o777 less the umask); mkdtemp alone makes it private."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o777 & ~umask


def _marker_kind(marker: Path) -> str | None:
    try:
        document = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(document.get("kind")) if isinstance(document, dict) else None
