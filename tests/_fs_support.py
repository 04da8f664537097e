"""Real file-system conditions for the tests: CLI subprocesses, an unprivileged user, small private mounts.

Nothing here imitates trapblur: each helper provokes a real condition (a folder the process may not write,
a file system that is full or read-only) and runs the real ``trapblur`` command against it.

* Permission bits do not stop root. When the tests run as root, :func:`unprivileged_cli` runs trapblur as
  the user ``nobody``, for whom they do; when they cannot drop privileges the test is skipped with a reason.
* A full or read-only disk is a private tmpfs mounted in a new mount namespace (``unshare -m``, or
  ``unshare -rm`` with unprivileged user namespaces). The mount exists only inside that one process tree and
  vanishes with it, so nothing is left mounted on the machine. Skipped where namespaces are not allowed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

NOBODY = 65534
TIMEOUT = 180


def cli(*args: str, user: int | None = None, timeout: float = TIMEOUT, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``python -m trapblur ARGS`` as a separate process; stdout and stderr are captured."""
    return subprocess.run([*as_user(user), sys.executable, "-m", "trapblur", *args], capture_output=True, text=True,
                          errors="backslashreplace", timeout=timeout, **kwargs)  # type: ignore[call-overload]


def as_user(user: int | None) -> list[str]:
    """The command prefix that runs a program as ``user`` (util-linux setpriv), or nothing."""
    if user is None:
        return []
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]


def assert_clean_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit 2, one line on stderr starting ``trapblur: error:``, no traceback, containing ``fragments``."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr, proc.stdout)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in lines if line.startswith("trapblur: error:")]
    assert len(errors) == 1 and len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary folder every user may enter (pytest's own tmp_path is private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix="trapblur-test-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:  # undo chmods so the folder can be removed
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)


def unprivileged_user() -> int | None:
    """The uid to run as so that permission bits apply: None when we already are not root."""
    if os.geteuid() != 0:
        return None
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permission bits cannot be tested")
    probe = subprocess.run([*as_user(NOBODY), sys.executable, "-c", "import trapblur"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip("running as root and the user nobody cannot run this Python: permission bits cannot be tested")
    return NOBODY


def give_to(path: Path, user: int | None) -> None:
    """Make ``path`` (and what is under it) belong to ``user`` (no-op when not running as root)."""
    if user is None:
        return
    for item in [path, *path.rglob("*")]:
        os.chown(item, user, user, follow_symlinks=False)


def _unshare_prefix() -> list[str]:
    return ["unshare", "-m", "--propagation", "private"] if os.geteuid() == 0 else ["unshare", "-rm", "--propagation", "private"]


def private_mount_available(folder: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run([*_unshare_prefix(), "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs '{folder}'"],
                           capture_output=True, timeout=60)
    return probe.returncode == 0


def on_private_tmpfs(mount_point: Path, size: str, script: str, *, read_only: bool = False) -> dict:
    """Run ``script`` (Python) with a fresh tmpfs of ``size`` mounted at ``mount_point``; return its JSON.

    The script sees ``MOUNT`` (the mount point, a Path), ``cli(*args)`` (runs trapblur, returns
    ``{"rc", "stdout", "stderr"}``) and ``fill()`` (writes to the disk until it is full); whatever it assigns
    to ``result`` comes back as a dict. Skips the test where private mounts are not allowed.
    """
    mount_point.mkdir(parents=True, exist_ok=True)
    if not private_mount_available(mount_point):
        pytest.skip("mount namespaces are not available here (needs root or unprivileged user namespaces)")
    out = mount_point.parent / f"{mount_point.name}.result.json"
    program = textwrap.dedent('''
        import json, subprocess, sys
        from pathlib import Path
        MOUNT = Path(sys.argv[1])
        def cli(*args):
            p = subprocess.run([sys.executable, "-m", "trapblur", *map(str, args)], capture_output=True,
                               text=True, errors="backslashreplace", timeout=%d)
            return {"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr}
        def fill():
            with open(MOUNT / "filler.bin", "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\\0" * 4096)
                except OSError:
                    pass
        result = {}
    ''' % TIMEOUT) + textwrap.dedent(script) + "\nPath(sys.argv[2]).write_text(json.dumps(result))\n"
    options = f"size={size}" + (",ro" if read_only else "")
    command = f'mount -t tmpfs -o {options} tmpfs "$1" && exec "$3" -c "$4" "$1" "$2"'
    proc = subprocess.run([*_unshare_prefix(), "sh", "-c", command, "sh", str(mount_point), str(out), sys.executable,
                           program], capture_output=True, text=True, timeout=4 * TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())
