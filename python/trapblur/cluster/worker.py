"""What runs on a Dask worker: one task of many images, the per-worker cache, the shared-storage check.

Nothing here holds state at module level. What a worker keeps between tasks (a loaded detection model) lives
in a :class:`TrapblurWorker` plugin instance, which Dask installs once per worker process and finds by name
(:data:`PLUGIN_NAME`), so a model is loaded once per worker, not once per task.

Every task first checks that this worker sees the run's folders: the image folder, and the output folder
*of this run* (a token file the driver wrote in its ``.trapblur`` folder, so that a worker writing to a
local disk at the same path is caught, not just one missing the path). A worker that does not fails the
task with a :class:`~trapblur.errors.ClusterError` naming the folder and the worker; the driver stops the
run with that message instead of waiting.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable, Sequence

from distributed import WorkerPlugin, get_worker

from ..errors import ClusterError

log = logging.getLogger(__name__)

PLUGIN_NAME = "trapblur"
STATE_FOLDER = ".trapblur"  # the pipeline's state folder in the output (written by the driver)


@dataclass(frozen=True)
class SharedFolders:
    """The folders every worker must see at the same paths as the driver, and this run's token."""

    images: str
    output: str | None  # None for tasks that write nothing (detection)
    token: str  # the content of the output's STATE_FOLDER/cluster-<token> file


def token_path(output: Path, token: str) -> Path:
    return output / STATE_FOLDER / f"cluster-{token}"


@dataclass(frozen=True)
class TaskOutput:
    """What a task sends back: its rows (or whatever its work returns), and who ran it."""

    value: Any
    worker: str


class WorkerCache:
    """Things a worker keeps between tasks, made once under a lock (a model is loaded by one thread)."""

    def __init__(self, gpu_device: str | None = None) -> None:
        self.gpu_device = gpu_device  # the GPU this worker process should use, when it declares one
        self._values: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._values)

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._values:
                self._values[key] = make()
            return self._values[key]


class TrapblurWorker(WorkerPlugin):
    """Installed on every worker of a run: keeps the :class:`WorkerCache`, holds BLAS to one thread (the
    worker's own threads parallelise over images, as the local thread pool does) and picks the GPU of a
    worker started with ``--resources GPU=1``."""

    name = PLUGIN_NAME

    def __init__(self) -> None:
        self.cache: WorkerCache | None = None

    def setup(self, worker: Any) -> None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
        keep_image_buffers()
        self.cache = WorkerCache(gpu_device_for(getattr(worker, "name", ""), dict(worker.state.total_resources)))

    def teardown(self, worker: Any) -> None:
        self.cache = None


def keep_image_buffers() -> bool:
    """Let the worker reuse its freed image buffers instead of mapping fresh, zeroed pages for each image.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also switches off glibc's
    adaptive mmap threshold: every decoded image (a few MB) is then mmapped and unmapped, and the page
    faults cost about 1 ms of system CPU per 1024 x 768 image (+25%; ``benchmarks/bench_cluster.py``).
    These are the thresholds glibc itself adapts to (32 MiB mmap, the most it allows; trim at twice that).
    Returns False where this is not glibc (nothing changed).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 * 2**20)) and bool(mallopt(m_trim_threshold, 64 * 2**20))


def gpu_device_for(worker_name: Any, resources: dict[str, float]) -> str | None:
    """``cuda:N`` for a worker that declares a GPU resource, else None (the model loader's own default).

    With several worker processes per job (``dask worker --nworkers N``, as dask-jobqueue starts them) the
    processes are named ``<name>-0``, ``<name>-1``, ...: process *i* takes the job's GPU *i* (of those
    CUDA_VISIBLE_DEVICES shows), so that each GPU serves one worker.
    """
    if not resources.get("GPU"):
        return None
    match = re.search(r"-(\d+)$", str(worker_name))
    index = int(match.group(1)) if match else 0
    visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    count = len(visible) if visible else _cuda_device_count()
    return f"cuda:{index % count}" if count else None


def _cuda_device_count() -> int:
    try:
        import torch

        return int(torch.cuda.device_count())
    except Exception:  # noqa: BLE001 - no torch, no CUDA: no GPU to pick
        return 0


def worker_label(worker: Any) -> str:
    """``tcp://10.0.0.7:40123 (node12)``: the worker's address and host, for messages."""
    return f"{worker.address} ({socket.gethostname()})"


def check_shared(folders: SharedFolders, worker: Any) -> None:
    """Refuse to run on a worker that does not see this run's image and output folders."""
    images = Path(folders.images)
    try:
        seen = images.is_dir()
        problem = "" if seen else "no such folder"
    except OSError as exc:
        seen, problem = False, exc.strerror or str(exc)
    if not seen:
        raise ClusterError(
            f"worker {worker_label(worker)} cannot see the image folder {images} ({problem}): every Dask worker "
            "must see the image and output folders at the same paths as this machine (shared storage)"
        )
    if folders.output is None:
        return
    path = token_path(Path(folders.output), folders.token)
    try:
        token = path.read_text(encoding="utf-8")
        problem = "" if token == folders.token else "holds another run's token"
    except FileNotFoundError:
        problem = "is missing"
    except OSError as exc:
        problem = f"cannot be read: {exc.strerror or exc}"
    if problem:
        raise ClusterError(
            f"worker {worker_label(worker)} does not see this run's output folder {folders.output} (its "
            f"{STATE_FOLDER}/{path.name} {problem}): every Dask worker must write to the same "
            "shared folder as this machine, not to a local disk at the same path"
        )


def run_task(work: Callable[[Sequence[Any], WorkerCache], Any], items: Sequence[Any],
             folders: SharedFolders) -> TaskOutput:
    """The function every trapblur task runs: check the folders, then ``work(items, cache)``."""
    worker = get_worker()
    check_shared(folders, worker)
    plugin = worker.plugins.get(PLUGIN_NAME)
    cache = getattr(plugin, "cache", None)
    if cache is None:  # a worker without the plugin: correct, only slower (nothing kept between tasks)
        cache = WorkerCache(gpu_device_for(worker.name, dict(worker.state.total_resources)))
    return TaskOutput(work(items, cache), worker.address)


def each_call(calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]], cache: WorkerCache) -> list[Any]:
    """Blur tasks: the pipeline's per-image calls, one after the other (they never raise for an image's
    problem: it becomes that image's row). Blurring needs nothing from the cache."""
    return [function(*arguments) for function, arguments in calls]
