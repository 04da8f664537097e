"""Reaching a Dask cluster: an existing scheduler, a local one, or workers started as batch jobs.

``connect(scheduler=...)`` joins a running scheduler (``tcp://host:8786``, or the JSON file that
``dask scheduler --scheduler-file`` writes). ``connect(cluster="local")`` starts worker processes on this
machine. ``connect(cluster="slurm" | "pbs" | "sge" | "lsf", jobs=..., cores=..., memory=...)`` starts a
scheduler here and submits ``jobs`` batch jobs through dask-jobqueue, each running ``processes`` Dask worker
processes that share ``cores`` threads and ``memory``; ``gpus`` asks each job for that many GPUs and gives
each worker process one (the Dask resource ``GPU``, which detection tasks then require).

The result is a :class:`Cluster`: the ``distributed.Client``, what to close, the task size, and live
counts for the progress bar and the summary. Dask is optional (``pip install "trapblur[distributed]"``);
without it every entry point here raises a :class:`~trapblur.errors.ClusterError` saying so.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ClusterError, OptionsError
from .tasks import TaskSize

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "trapblur[distributed]" (Dask, distributed and dask-jobqueue)'
BATCH_SYSTEMS = ("slurm", "pbs", "sge", "lsf")
CLUSTER_KINDS = ("local", *BATCH_SYSTEMS)
_JOBQUEUE_CLASSES = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster"}
POLL_S = 2.0  # how often a wait checks that the cluster still has workers


def require_dask(what: str = "running on a Dask cluster") -> None:
    """Raise a ClusterError with the install command when Dask's packages cannot be imported."""
    missing = []
    for name in ("dask", "distributed"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ClusterError(f"{what} needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                           f"not installed: {INSTALL_HINT}")


@dataclass(frozen=True)
class ClusterOptions:
    """Where a run goes: ``scheduler`` (address or scheduler file) or ``cluster`` (a kind), not both."""

    scheduler: str | None = None
    cluster: str | None = None
    jobs: int = 1
    cores: int | None = None
    memory: str | None = None
    walltime: str | None = None
    gpus: int = 0
    processes: int | None = None
    queue: str | None = None
    account: str | None = None
    worker_timeout: float = 600.0
    task_size: TaskSize = field(default_factory=TaskSize)

    def __post_init__(self) -> None:
        if self.scheduler is not None and self.cluster is not None:
            raise OptionsError("give either scheduler= (a running Dask scheduler) or cluster= (one to start), not both",
                               argument="cluster")
        if self.cluster is not None and self.cluster not in CLUSTER_KINDS:
            raise OptionsError(f"cluster must be one of {', '.join(CLUSTER_KINDS)}, not {self.cluster!r}")
        for name in ("jobs", "cores", "processes", "gpus"):
            value = getattr(self, name)
            least = 0 if name == "gpus" else 1
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
                raise OptionsError(f"{name} must be a whole number of at least {least}, not {value!r}", argument=name)
        if not isinstance(self.worker_timeout, (int, float)) or self.worker_timeout <= 0:
            raise OptionsError(f"worker_timeout must be a number of seconds above 0, not {self.worker_timeout!r}",
                               argument="worker_timeout")
        if self.walltime is not None:
            walltime_seconds(self.walltime)  # refuse a bad one before anything starts
        in_batch = self.cluster in BATCH_SYSTEMS
        if self.cluster is None and self.scheduler is None and self.changed_from_defaults():
            raise OptionsError("jobs, cores, memory, walltime, gpus and processes size a cluster that trapblur starts: "
                               "give them with cluster='slurm' (or 'pbs', 'sge', 'lsf', 'local')", argument="cluster")
        if self.cluster == "local" and (self.jobs != 1 or self.walltime or self.gpus or self.queue or self.account):
            raise OptionsError("cluster='local' takes processes, cores and memory only (no jobs, walltime, "
                               "GPUs, queue or account)", argument="cluster")
        if in_batch and (self.cores is None or self.memory is None):
            raise OptionsError(f"cluster={self.cluster!r} needs cores and memory (per job), e.g. "
                               "cores=8 and memory='32GB'", argument="cluster")
        if self.scheduler is not None and self.changed_from_defaults():
            raise OptionsError("jobs, cores, memory, walltime, gpus and processes size a cluster that trapblur "
                               "starts; an existing scheduler's workers were sized when they were started",
                               argument="scheduler")

    def changed_from_defaults(self) -> bool:
        return (self.jobs != 1 or self.cores is not None or self.memory is not None or self.walltime is not None
                or self.gpus != 0 or self.processes is not None or self.queue is not None or self.account is not None)

    @property
    def processes_per_job(self) -> int:
        """Worker processes per job: as asked, else one per GPU, else one."""
        return self.processes or self.gpus or 1


@dataclass
class RunCounts:
    """What the current (or last) run did on the cluster; read by the progress bar and the summary."""

    tasks: int = 0
    tasks_done: int = 0
    tasks_rerun: int = 0  # tasks a lost worker was running: Dask ran them again elsewhere
    workers: set[str] = field(default_factory=set)  # workers that returned a task


class Cluster:
    """A Dask client for trapblur's runs, what to close with it, and what its runs did.

    Pass one as ``client=`` (a plain ``distributed.Client`` works too; it is wrapped with the defaults).
    """

    def __init__(self, client: Any, *, task_size: TaskSize | None = None, worker_timeout: float = 600.0,
                 description: str = "", owned: tuple[Any, ...] = (), gpus: int = 0,
                 expected_threads: int = 0) -> None:
        self.client = client
        self.task_size = task_size or TaskSize()
        self.worker_timeout = worker_timeout
        self.description = description or str(getattr(client, "scheduler", None) and client.scheduler.address)
        self.gpus = gpus
        self.expected_threads = expected_threads  # worker threads once every job runs (0: whatever is there)
        self.counts = RunCounts()
        self._owned = owned  # a LocalCluster or JobQueueCluster this object started (closed with it)
        self._lock = threading.Lock()
        self._plugin_registered = False
        self._last_workers: tuple[float, int] = (0.0, 0)
        self._no_workers_since: float | None = None

    # -- lifetime --------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the client, and the cluster if this object started it (its jobs end)."""
        try:
            self.client.close()
        finally:
            for owned in reversed(self._owned):
                owned.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- workers ---------------------------------------------------------------------------------------
    def workers(self, max_age_s: float = 2.0) -> int:
        """How many workers the scheduler has (asked at most every ``max_age_s`` seconds)."""
        now = time.monotonic()
        with self._lock:
            asked, count = self._last_workers
            if now - asked < max_age_s and asked:
                return count
        count = len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        with self._lock:
            self._last_workers = (now, count)
        return count

    def wait_for_workers(self) -> None:
        """Wait (at most ``worker_timeout`` seconds) for a first worker; a clear error instead of a hang."""
        try:
            self.client.wait_for_workers(1, timeout=self.worker_timeout)
        except (TimeoutError, OSError) as exc:
            raise ClusterError(
                f"no Dask worker joined {self.description} within {self.worker_timeout:g} s ({type(exc).__name__}): "
                "start workers (`dask worker ADDRESS`), check the batch jobs' queue, or give more time "
                "(worker_timeout=SECONDS)"
            ) from None

    def check_alive(self) -> None:
        """Called while waiting for a task: a ClusterError once the client lost its scheduler, or the
        cluster has had no worker for ``worker_timeout`` seconds."""
        status = getattr(self.client, "status", "running")
        if status not in ("running", "connecting"):
            raise ClusterError(f"lost the connection to the Dask scheduler {self.description} (client {status}); "
                               "run the same command again to resume")
        try:
            count = self.workers()
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"the Dask scheduler {self.description} does not answer ({exc}); run the same "
                               "command again to resume") from None
        now = time.monotonic()
        if count:
            self._no_workers_since = None
        elif self._no_workers_since is None:
            self._no_workers_since = now
        elif now - self._no_workers_since > self.worker_timeout:
            raise ClusterError(f"the Dask cluster {self.description} has had no worker for {self.worker_timeout:g} s; "
                               "what was finished is kept: run the same command again to resume")

    def register_plugin(self) -> None:
        """Install trapblur's worker plugin (once per Cluster object; Dask also installs it on later workers)."""
        if self._plugin_registered:
            return
        from .worker import PLUGIN_NAME, TrapblurWorker

        self.client.register_plugin(TrapblurWorker(), name=PLUGIN_NAME)
        self._plugin_registered = True

    def uses_gpu_resources(self) -> bool:
        """True when detection tasks should ask for the Dask resource ``GPU`` (some worker declares it)."""
        if self.gpus:
            return True
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        return any(w.get("resources", {}).get("GPU") for w in workers.values())

    # -- the run's counts ------------------------------------------------------------------------------
    def start_run(self) -> None:
        self.counts = RunCounts()

    def status_line(self) -> str:
        """For the progress bar: ``tasks 12/40, 2 workers``."""
        counts = self.counts
        try:
            workers = self.workers()
        except Exception:  # noqa: BLE001 - the bar must never stop the run
            workers = len(counts.workers)
        return f"tasks {counts.tasks_done}/{counts.tasks}, {workers} worker{'s' if workers != 1 else ''}"

    def summary(self) -> str:
        """One line for the end of the run."""
        counts = self.counts
        rerun = f"; {counts.tasks_rerun} run again after a worker was lost" if counts.tasks_rerun else ""
        return (f"on the Dask cluster {self.description}: {counts.tasks_done} tasks on "
                f"{len(counts.workers)} workers{rerun}\n")


def as_cluster(client: Any) -> Cluster:
    """``client`` as a :class:`Cluster` (a ``distributed.Client`` gets the default task size)."""
    if isinstance(client, Cluster):
        return client
    require_dask()
    from distributed import Client

    if not isinstance(client, Client):
        raise OptionsError(f"client must be a distributed.Client or a trapblur.cluster.Cluster, not "
                           f"{type(client).__name__}")
    return Cluster(client, description=client.scheduler.address if client.scheduler else "")


def connect(
    scheduler: str | os.PathLike[str] | None = None,
    cluster: str | None = None,
    *,
    jobs: int = 1,
    cores: int | None = None,
    memory: str | None = None,
    walltime: str | None = None,
    gpus: int = 0,
    processes: int | None = None,
    queue: str | None = None,
    account: str | None = None,
    worker_timeout: float = 600.0,
    task_images: int | None = None,
) -> Cluster:
    """A :class:`Cluster` for ``scheduler`` (address or scheduler file) or a new ``cluster`` of a kind.

    Close it (or use it in a ``with`` block) when done: a cluster it started is stopped, its jobs end.
    """
    size = TaskSize(images=task_images) if task_images is not None else TaskSize()
    options = ClusterOptions(
        scheduler=os.fspath(scheduler) if scheduler is not None else None, cluster=cluster, jobs=jobs,
        cores=cores, memory=memory, walltime=walltime, gpus=gpus, processes=processes, queue=queue,
        account=account, worker_timeout=worker_timeout, task_size=size,
    )
    return open_cluster(options)


def open_cluster(options: ClusterOptions) -> Cluster:
    """:func:`connect` with its options already checked."""
    require_dask()
    from distributed import Client

    common = dict(task_size=options.task_size, worker_timeout=options.worker_timeout, gpus=options.gpus)
    if options.scheduler is not None:
        address, scheduler_file = scheduler_target(options.scheduler)
        try:
            client = (Client(scheduler_file=scheduler_file, timeout=options.worker_timeout) if scheduler_file
                      else Client(address, timeout=options.worker_timeout))
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler {options.scheduler}: {exc}") from None
        return Cluster(client, description=client.scheduler.address, **common)
    if options.cluster == "local":
        from distributed import LocalCluster

        processes = options.processes or max(1, os.cpu_count() or 1)
        local = LocalCluster(n_workers=processes, threads_per_worker=options.cores or 1, processes=True,
                             memory_limit=options.memory or "auto", dashboard_address=":0")
        client = Client(local)
        return Cluster(client, description=f"local, {processes} worker processes", owned=(local,),
                       expected_threads=processes * (options.cores or 1), **common)
    if options.cluster in BATCH_SYSTEMS:
        batch = jobqueue_cluster(options)
        try:
            # Adaptive with minimum = maximum: jobs that end (walltime) are replaced until the run is done.
            batch.adapt(minimum_jobs=options.jobs, maximum_jobs=options.jobs)
            client = Client(batch)
        except BaseException:
            batch.close()
            raise
        description = (f"{options.cluster}, {options.jobs} jobs x {options.cores} cores"
                       + (f" x {options.gpus} GPUs" if options.gpus else ""))
        return Cluster(client, description=description, owned=(batch,),
                       expected_threads=options.jobs * int(options.cores or 1), **common)
    raise OptionsError("give scheduler= (a running Dask scheduler) or cluster= (one to start)", argument="cluster")


def scheduler_target(text: str) -> tuple[str | None, str | None]:
    """``(address, None)`` for ``tcp://host:port`` / ``host:port``, ``(None, path)`` for a scheduler file."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", text) or re.match(r"^[\w.-]+:\d+$", text):
        return text, None
    path = Path(text).expanduser()
    if not path.is_file():
        raise OptionsError(f"{text}: not a scheduler address (tcp://host:port) and no such scheduler file")
    return None, str(path)


def jobqueue_cluster(options: ClusterOptions) -> Any:
    """The dask-jobqueue cluster for ``options`` (its scheduler runs here; no job submitted yet).

    Each job runs ``processes_per_job`` worker processes sharing the job's cores and memory, with this
    Python (the same environment must exist on the compute nodes: shared storage). Workers retire a few
    minutes before the walltime so their tasks move elsewhere instead of being killed mid-task.
    """
    require_dask(f"cluster={options.cluster!r}")
    if importlib.util.find_spec("dask_jobqueue") is None:
        raise ClusterError(f"cluster={options.cluster!r} needs dask-jobqueue, which is not installed: {INSTALL_HINT}")
    import dask_jobqueue

    processes = options.processes_per_job
    assert options.cores is not None
    if options.cores < processes:
        raise OptionsError(f"cores={options.cores} cannot be shared by {processes} worker processes per job",
                           argument="cores")
    if options.gpus and processes != options.gpus:
        raise OptionsError(f"gpus={options.gpus} per job needs one worker process per GPU "
                           f"(processes={options.gpus}), not {processes}", argument="gpus")
    worker_args, directives = _worker_command(options)
    kind = _JOBQUEUE_CLASSES[str(options.cluster)]
    arguments: dict[str, Any] = dict(
        cores=options.cores, memory=options.memory, processes=processes, python=sys.executable,
        job_name="trapblur", worker_extra_args=worker_args, job_extra_directives=directives,
    )
    if options.walltime:
        arguments["walltime"] = options.walltime
    if options.queue:
        arguments["queue"] = options.queue
    if options.account:
        arguments["account" if kind != "SGECluster" else "project"] = options.account
    try:
        return getattr(dask_jobqueue, kind)(**arguments)
    except (ValueError, TypeError) as exc:
        raise OptionsError(f"cluster={options.cluster!r}: {exc}", argument="cluster") from None


def _worker_command(options: ClusterOptions) -> tuple[list[str], list[str]]:
    """The ``dask worker`` arguments and the batch-script directives of each job.

    GPUs: one Dask resource ``GPU`` per worker process, and the batch system asked for them per job (sites
    differ: check the ``--job-script`` output before a big run). A walltime: workers retire five minutes
    before it, staggered, so that their tasks move elsewhere instead of being killed mid-task.
    """
    gpu_directives = {"slurm": "--gres=gpu:{n}", "pbs": "-l ngpus={n}", "sge": "-l gpu={n}", "lsf": '-gpu "num={n}"'}
    worker_args: list[str] = []
    directives: list[str] = []
    if options.gpus:
        directives.append(gpu_directives[str(options.cluster)].format(n=options.gpus))
        worker_args += ["--resources", "GPU=1"]
    if options.walltime:
        seconds = walltime_seconds(options.walltime)
        if seconds >= 15 * 60:
            worker_args += ["--lifetime", f"{seconds - 5 * 60}s", "--lifetime-stagger", "60s"]
    return worker_args, directives


def walltime_seconds(text: str) -> int:
    """``04:00:00``, ``30:00``, ``90`` (minutes) or ``1-12:00:00`` (Slurm's days) as seconds."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?", text.strip())
    if not match:
        raise OptionsError(f"walltime must look like 04:00:00 (hours:minutes:seconds), not {text!r}")
    days, first, second, third = match.groups()
    if third is not None:
        seconds = int(first) * 3600 + int(second) * 60 + int(third)
    elif second is not None:
        seconds = int(first) * 60 + int(second) if days is None else int(first) * 3600 + int(second) * 60
    else:
        seconds = int(first) * 60 if days is None else int(first) * 3600
    return seconds + int(days or 0) * 86400

