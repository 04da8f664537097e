"""The blur batch on a Dask cluster: the pipeline's per-image calls, sent to workers many images per task.

:class:`DaskImagePool` is what :func:`trapblur.pipeline._process_all` uses instead of its thread pool when
it is given a client: ``submit(function, file, *arguments)`` takes one image's call (the same picklable
:func:`~trapblur.pipeline.process_image` call the thread pool runs) and returns a handle whose ``result()``
is that call's outcome. Calls are packed into tasks as they come (:mod:`.tasks`); a task is sent when the
next image starts a new one, or when its first outcome is asked for. The pipeline asks in folder order and
records rows in that order, so the journal, report and results file are written exactly as in a local run,
whatever order tasks finish in; it keeps a bounded number of images pending (:attr:`DaskImagePool.window`),
so results are fetched while later tasks run, and memory stays flat.

Faults:

* A worker killed mid-task: Dask runs the task again on another worker (its outputs are written atomically,
  so the killed one left at most ``.trapblur-XXXXXXXX.partial`` temporaries; once every task is done, those in the
  folders of tasks that were running on a lost worker are deleted). A task on which workers keep dying
  (Dask's ``allowed-failures``, 3) raises :class:`~trapblur.errors.TaskFailed` for each of its images:
  the pipeline reports them failed and deletes anything of them in the output.
* A task that raises: the same, with the exception as the reason.
* A worker that cannot see the folders: :class:`~trapblur.errors.ClusterError`, the run stops.
* No worker, or the scheduler gone: every wait polls the cluster, and gives up with a ClusterError after
  the cluster's ``worker_timeout``. The driver killed: a re-run resumes from the journal.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Callable

from ..atomic import is_temporary, write_text_atomically
from ..errors import TaskFailed
from .connect import Cluster, as_cluster
from .running import input_size, task_value
from .tasks import TaskCutter
from .worker import SharedFolders, each_call, run_task, token_path

log = logging.getLogger(__name__)


class _Task:
    """Calls packed into one Dask task, and then its future and outcome."""

    __slots__ = ("calls", "folders", "future", "values", "error", "key")

    def __init__(self) -> None:
        self.calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.folders: set[str] = set()  # output sub-folders its images are written to
        self.future: Any = None
        self.values: list[Any] | None = None
        self.error: BaseException | None = None
        self.key = ""


class _Pending:
    """What :meth:`DaskImagePool.submit` returns: ``result()`` as a Future's (``cancel()`` does nothing:
    the pool cancels its tasks when it closes)."""

    __slots__ = ("_pool", "_task", "_index")

    def __init__(self, pool: DaskImagePool, task: _Task, index: int) -> None:
        self._pool, self._task, self._index = pool, task, index

    def result(self, timeout: float | None = None) -> Any:
        return self._pool._outcome(self._task, self._index)

    def cancel(self) -> bool:
        return False


class DaskImagePool:
    """Runs per-image calls on a Dask cluster, many per task; used as a context manager around a batch."""

    def __init__(self, client: Any, output_root: Path) -> None:
        self.cluster: Cluster = as_cluster(client)
        self.output_root = output_root
        self.window = 1
        self._token = secrets.token_hex(8)
        self._prefix = f"trapblur-blur-{self._token}-"
        self._cutter = TaskCutter(self.cluster.task_size)
        self._open: _Task | None = None
        self._sent: dict[str, _Task] = {}  # key -> task not yet collected
        self._folders_of: dict[str, frozenset[str]] = {}  # key -> output sub-folders (for the clean-up)
        self._lost: set[str] = set()  # keys of tasks a removed worker was running
        self._lost_lock = threading.Lock()
        self._images_root: Path | None = None
        self._count = 0

    # -- context -------------------------------------------------------------------------------------------
    def __enter__(self) -> DaskImagePool:
        cluster = self.cluster
        cluster.start_run()
        cluster.wait_for_workers()
        cluster.register_plugin()
        mine = token_path(self.output_root, self._token)
        for stale in mine.parent.glob("cluster-*"):  # left by a driver that was killed
            stale.unlink(missing_ok=True)
        write_text_atomically(mine, self._token)
        cluster.client.subscribe_topic("all", self._on_event)
        threads = max(sum(cluster.client.nthreads().values()), cluster.expected_threads, 1)
        # Enough tasks in flight to keep every worker thread busy while the oldest is being waited for.
        self.window = max(4, 3 * threads) * cluster.task_size.images + 1
        log.info("running on %s: %d worker threads, tasks of at most %d images", cluster.description, threads,
                 cluster.task_size.images)
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        client = self.cluster.client
        try:
            outstanding = [t.future for t in self._sent.values() if t.future is not None]
            if outstanding:
                client.cancel(outstanding)
            if exc_type is None:
                self._remove_lost_temporaries()
        finally:
            try:
                client.unsubscribe_topic("all")
            except Exception:  # noqa: BLE001 - a closed client has nothing to unsubscribe
                pass
            token_path(self.output_root, self._token).unlink(missing_ok=True)

    # -- submitting ----------------------------------------------------------------------------------------
    def submit(self, function: Callable[..., Any], file: Any, *arguments: Any) -> _Pending:
        """Queue ``function(file, *arguments)`` for ``file`` (an :class:`~trapblur.dataset.ImageFile`)."""
        if self._images_root is None:
            self._images_root = images_root_of(file)
        if self._cutter.starts_task(file.relative, input_size(file.path)) and self._open is not None:
            self._send(self._open)
        if self._open is None:
            self._open = _Task()
        task = self._open
        task.calls.append((function, (file, *arguments)))
        task.folders.add(os.path.dirname(file.relative))
        return _Pending(self, task, len(task.calls) - 1)

    def _send(self, task: _Task) -> None:
        if task is self._open:
            self._open = None
        assert self._images_root is not None
        folders = SharedFolders(str(self._images_root), str(self.output_root), self._token)
        task.key = f"{self._prefix}{self._count}"
        self._count += 1
        task.future = self.cluster.client.submit(run_task, each_call, task.calls, folders, key=task.key, pure=False)
        task.calls = []  # sent: the driver keeps only what it needs to read the outcome
        self._sent[task.key] = task
        self._folders_of[task.key] = frozenset(task.folders)
        self.cluster.counts.tasks += 1

    # -- outcomes ------------------------------------------------------------------------------------------
    def _outcome(self, task: _Task, index: int) -> Any:
        if task.future is None and task.values is None and task.error is None:
            self._send(task)  # the last task, still open: someone waits for it
            self._cutter = TaskCutter(self.cluster.task_size)  # an image submitted after starts a new task
        if task.values is None and task.error is None:
            self._collect(task)
        if task.error is not None:
            raise task.error
        assert task.values is not None
        return task.values[index]

    def _collect(self, task: _Task) -> None:
        self._sent.pop(task.key, None)
        try:
            task.values = task_value(self.cluster, task.future, "the task holding this image")
        except TaskFailed as failure:
            task.error = failure
        finally:
            task.future = None

    # -- clean-up after lost workers ---------------------------------------------------------------------------
    def _on_event(self, event: Any) -> None:
        _, message = event
        if isinstance(message, dict) and message.get("action") == "remove-worker":
            keys = {str(k) for k in message.get("processing-tasks", ()) if str(k).startswith(self._prefix)}
            with self._lost_lock:
                self._lost |= keys

    def _remove_lost_temporaries(self) -> None:
        """Delete the temporaries that killed workers left in the folders of the tasks they were running."""
        try:
            for _, message in self.cluster.client.get_events("all"):
                self._on_event((None, message))
        except Exception as exc:  # noqa: BLE001 - the live subscription saw them too
            log.debug("cannot read the scheduler's events (%s)", exc)
        with self._lost_lock:
            lost = set(self._lost)
        self.cluster.counts.tasks_rerun = len(lost)
        folders = {folder for key in lost for folder in self._folders_of.get(key, ())}
        removed = sum(remove_temporaries_in(self.output_root / folder) for folder in sorted(folders))
        if lost:
            log.warning("%d tasks were running on workers that were lost; Dask ran them again elsewhere "
                        "(%d temporary files they left removed)", len(lost), removed)


def images_root_of(file: Any) -> Path:
    """The image folder a dataset file was found in: its path less its relative name."""
    return file.path.parents[file.relative.count("/")]


def remove_temporaries_in(folder: Path) -> int:
    """Delete trapblur's own temporary files (:func:`trapblur.atomic.is_temporary`) directly in ``folder``."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if is_temporary(entry.name) and entry.is_file(follow_symlinks=False):
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed
