"""Running trapblur on a Dask cluster: many images per task, the same output as a local run.

:func:`connect` reaches (or starts) a cluster and returns a :class:`Cluster` to pass as ``client=`` to
:func:`trapblur.blur_dataset`, :func:`trapblur.detect` and :func:`trapblur.anonymise` (a plain
``distributed.Client`` works too). The modules: :mod:`.connect` (scheduler address or file, a local cluster,
Slurm/PBS/SGE/LSF jobs through dask-jobqueue), :mod:`.tasks` (how images are cut into tasks),
:mod:`.pool` (the blur batch on the workers), :mod:`.running` (waiting for tasks; detection's tasks, which
finish in any order) and :mod:`.worker` (what runs on a worker: the shared-folder check, the per-worker
cache that keeps a detection model loaded). Importing this package needs no Dask;
using it does (``pip install "trapblur[distributed]"``).
"""

from .connect import INSTALL_HINT, Cluster, ClusterOptions, as_cluster, connect, open_cluster, require_dask
from .tasks import TaskSize

__all__ = ["INSTALL_HINT", "Cluster", "ClusterOptions", "TaskSize", "as_cluster", "connect", "open_cluster",
           "require_dask"]
