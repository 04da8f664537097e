"""Waiting for trapblur's Dask tasks, and running a list of images as tasks in any order (detection).

:func:`task_value` is the one place a task's end is read: its value; :class:`~trapblur.errors.TaskFailed`
when it could not run (workers kept dying on it, or it raised), for the caller to turn into its images'
failure rows; :class:`~trapblur.errors.ClusterError` when the run cannot go on (a worker without the
shared folders, the scheduler gone, no worker for too long). Every wait polls, so nothing hangs.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..errors import ClusterError, TaskFailed
from .connect import POLL_S, Cluster, as_cluster
from .tasks import TaskCutter
from .worker import SharedFolders, TaskOutput, run_task

log = logging.getLogger(__name__)


def task_value(cluster: Cluster, future: Any, what: str = "its task") -> Any:
    """Wait for ``future`` (a trapblur task) and return its value; see the module docs for what it raises."""
    from distributed import wait
    from distributed.scheduler import KilledWorker

    while not future.done():
        try:
            wait(future, timeout=POLL_S)
        except TimeoutError:
            cluster.check_alive()
    counts = cluster.counts
    try:
        if future.status == "finished":
            output: TaskOutput = future.result()
            counts.tasks_done += 1
            counts.workers.add(output.worker)
            return output.value
        if future.status != "error":
            raise ClusterError(f"the Dask scheduler {cluster.description} dropped a task ({future.status}); "
                               "run the same command again to resume")
        error = future.exception()
        if isinstance(error, ClusterError):
            raise error
        counts.tasks_done += 1
        if isinstance(error, KilledWorker):
            failure = TaskFailed(f"not processed: the worker processes running {what} kept dying (killed, or out "
                                 f"of memory) on the cluster {cluster.description}; re-run to try again")
        else:
            failure = TaskFailed(f"not processed: {what} failed on the cluster ({type(error).__name__}: {error})")
        log.error("task %s: %s", future.key, failure)
        raise failure
    finally:
        future.release()


def map_tasks(
    client: Any,
    work: Callable[[Sequence[Any], Any], Any],
    items: Sequence[tuple[str, Path]],
    images_root: Path,
    *,
    needs_gpu: bool = False,
    name: str = "detect",
) -> Iterator[tuple[list[tuple[str, Path]], Any]]:
    """Run ``work(task items, worker cache)`` on the cluster for ``items`` ((relative name, path) pairs),
    cut into tasks as the blur batch is (:mod:`.tasks`), and yield ``(task items, value or TaskFailed)`` as
    tasks finish, whatever their order. A bounded number of tasks is in flight at a time.
    """
    cluster = as_cluster(client)
    cluster.start_run()
    cluster.wait_for_workers()
    cluster.register_plugin()
    resources = {"GPU": 1} if needs_gpu and cluster.uses_gpu_resources() else None
    folders = SharedFolders(str(images_root), None, "")
    threads = max(sum(cluster.client.nthreads().values()), cluster.expected_threads, 1)
    in_flight = max(4, 3 * threads)
    prefix = f"trapblur-{name}-{secrets.token_hex(8)}-"
    tasks = deque(_cut(items, cluster))
    cluster.counts.tasks = len(tasks)
    running: dict[Any, list[tuple[str, Path]]] = {}
    sent = 0
    from distributed import wait

    try:
        while tasks or running:
            while tasks and len(running) < in_flight:
                chunk = tasks.popleft()
                future = cluster.client.submit(run_task, work, chunk, folders, key=f"{prefix}{sent}", pure=False,
                                               resources=resources)
                running[future] = chunk
                sent += 1
            try:
                finished = wait(list(running), timeout=POLL_S, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                cluster.check_alive()
                continue
            for future in finished:
                chunk = running.pop(future)
                try:
                    yield chunk, task_value(cluster, future, "the task holding this image")
                except TaskFailed as failure:
                    yield chunk, failure
    finally:
        if running:
            cluster.client.cancel(list(running))


def _cut(items: Sequence[tuple[str, Path]], cluster: Cluster) -> Iterator[list[tuple[str, Path]]]:
    cutter = TaskCutter(cluster.task_size)
    chunk: list[tuple[str, Path]] = []
    for relative, path in items:
        if cutter.starts_task(relative, input_size(path)) and chunk:
            yield chunk
            chunk = []
        chunk.append((relative, path))
    if chunk:
        yield chunk


def input_size(path: Path) -> int:
    """The bytes of an input, for cutting tasks (0 when unreadable: the worker reports that)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the worker reports the problem
