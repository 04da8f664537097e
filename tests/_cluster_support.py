"""Helpers for the Dask tests: a mixed dataset, real scheduler/worker processes, byte-for-byte comparison.

Every process started here is started with a deadline and stopped by its own pid (never by name).
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from conftest import make_camera_jpeg, person, write_md

VENV_BIN = Path(sys.executable).parent
DASK = VENV_BIN / "dask"
STATE = ".trapblur"


def make_dataset(root: Path, count: int, folders: int = 3, size: tuple[int, int] = (160, 120)) -> tuple[Path, Path]:
    """``count`` JPEGs in ``folders`` camera folders plus a few problem files, and MegaDetector results.

    Mixed on purpose: people (blurred), empty frames (copied), a detector failure and an unlisted image
    (withheld), a corrupt file (failed), a text file (ignored), an entry with no image (missing).
    """
    images = root / "cameras"
    entries: list[dict] = []
    for index in range(count):
        folder = images / f"site{index % folders:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"site{index % folders:02d}/IMG_{index:05d}.JPG"
        (images / name).write_bytes(make_camera_jpeg(*size, seed=index, thumbnail=index % 4 == 0))
        if index % 3 == 0:
            entries.append({"file": name, "detections": [person([0.1, 0.2, 0.3, 0.5], 0.8 + (index % 10) / 100)]})
        else:
            entries.append({"file": name, "detections": []})
    (images / "site00" / "unlisted.jpg").write_bytes(make_camera_jpeg(*size, seed=999_001))
    (images / "site01" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    entries.append({"file": "site01/broken.jpg", "detections": [person([0.2, 0.2, 0.2, 0.2])]})
    (images / "site01" / "failed.jpg").write_bytes(make_camera_jpeg(*size, seed=999_002))
    entries.append({"file": "site01/failed.jpg", "failure": "image access failure"})
    (images / "site02" / "notes.txt").write_text("batteries changed\n")
    entries.append({"file": "site02/gone.jpg", "detections": []})
    md = write_md(root / "md.json", entries)
    return images, md


def output_bytes(output: Path) -> dict[str, bytes]:
    """Every file of a finished output except the run's private state folder, by relative path."""
    return {p.relative_to(output).as_posix(): p.read_bytes() for p in sorted(output.rglob("*"))
            if p.is_file() and STATE not in p.relative_to(output).parts}


def differences(expected: dict[str, bytes], actual: dict[str, bytes]) -> list[str]:
    """What differs between two outputs, named (empty when they are identical byte for byte)."""
    problems = [f"missing {name}" for name in sorted(set(expected) - set(actual))]
    problems += [f"extra {name}" for name in sorted(set(actual) - set(expected))]
    problems += [f"differs {name}" for name in sorted(set(expected) & set(actual)) if expected[name] != actual[name]]
    return problems


def partial_files(output: Path) -> list[str]:
    return sorted(p.relative_to(output).as_posix() for p in output.rglob("*.partial"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def clean_environment() -> dict[str, str]:
    """The environment for child processes: no inherited dask settings, BLAS held to one thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class TcpCluster:
    """A ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, started with the dask command."""

    folder: Path
    workers: int = 2
    nthreads: int = 1
    nanny: bool = True
    prefix: list[str] = field(default_factory=list)  # e.g. ["unshare", "-m", ...] for a worker of another view
    env: dict[str, str] = field(default_factory=dict)  # added to the processes' environment (DASK_... settings)
    scheduler: subprocess.Popen | None = None
    worker_processes: list[subprocess.Popen] = field(default_factory=list)
    port: int = 0

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def scheduler_file(self) -> Path:
        return self.folder / "scheduler.json"

    def start(self, timeout: float = 60) -> TcpCluster:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        log = (self.folder / "scheduler.log").open("wb")
        self.scheduler = subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard",
             "--scheduler-file", str(self.scheduler_file)],
            stdout=log, stderr=subprocess.STDOUT, env={**clean_environment(), **self.env}, cwd=self.folder)
        wait_until(self.scheduler_file.is_file, timeout, "the dask scheduler's file")
        for _ in range(self.workers):
            self.add_worker(timeout=timeout, wait=False)
        self.wait_for_workers(self.workers, timeout)
        return self

    def add_worker(self, prefix: list[str] | None = None, timeout: float = 60, wait: bool = True,
                   name: str | None = None) -> subprocess.Popen:
        index = len(self.worker_processes)
        log = (self.folder / f"worker{index}.log").open("wb")
        command = [*(prefix if prefix is not None else self.prefix), str(DASK), "worker", self.address,
                   "--host", "127.0.0.1", "--nthreads", str(self.nthreads), "--no-dashboard",
                   "--name", name or f"w{index}", "--local-directory", str(self.folder / f"space{index}"),
                   "--death-timeout", "60", *([] if self.nanny else ["--no-nanny"])]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   env={**clean_environment(), **self.env}, cwd=self.folder)
        self.worker_processes.append(process)
        if wait:
            self.wait_for_workers(self.connected() + 1, timeout)
        return process

    def connected(self) -> int:
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            return len(client.scheduler_info(n_workers=-1)["workers"])

    def wait_for_workers(self, count: int, timeout: float) -> None:
        from distributed import Client

        if count < 1:
            return
        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(count, timeout=timeout)

    def stop(self) -> None:
        for process in [*self.worker_processes, self.scheduler]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.worker_processes, self.scheduler]:
            if process is None:
                continue
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)

    def __enter__(self) -> TcpCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()  # what did start must not outlive the test
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]
