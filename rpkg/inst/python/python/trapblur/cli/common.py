"""What the ``trapblur`` sub-commands share: exit codes, the blur options, the progress bar, the summary.

Exit status, for every command: 0 when every image was written (or checked); 1 when the run finished but
some images were withheld or failed (see the report); 2 when it could not run (bad arguments, unreadable
results file, unusable output folder, missing model).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from tqdm import tqdm

from ..errors import OptionsError, TrapblurError
from ..options import DEFAULT_THRESHOLD, METHODS, SHAPES
from ..report import RunReport

EXIT_OK, EXIT_INCOMPLETE, EXIT_CANNOT_RUN = 0, 1, 2


def add_blur_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that say what is hidden and how; shared with the commands that detect first."""
    what = parser.add_argument_group("what is blurred")
    what.add_argument(
        "--threshold", default=str(DEFAULT_THRESHOLD), metavar="T",
        help=f"blur detections with confidence >= T (0-1; default {DEFAULT_THRESHOLD}: between MegaDetector's "
        "conservative 0.05 and typical 0.2, erring towards blurring). Per category: person=0.05,vehicle=0.2",
    )
    what.add_argument(
        "--categories", default="person", metavar="LIST",
        help="comma-separated categories to blur (default: person; add vehicle to hide number plates)",
    )
    what.add_argument(
        "--padding", type=float, default=0.1, metavar="P",
        help="grow each box by P x its width/height on every side (0-1; default 0.1): detector boxes are "
        "often tight around hair, elbows and feet",
    )
    what.add_argument(
        "--corrections", default=None, metavar="CSV",
        help="a reviewer's corrections (what `trapblur review`'s page saves): boxes blurred whatever the "
        "threshold, whole images blurred or withheld. A re-run with a new or changed file redoes only the "
        "images it touches",
    )
    how = parser.add_argument_group("how it is blurred")
    how.add_argument(
        "--strength", type=float, default=1.0, metavar="S",
        help="blur strength, scaled to each box: Gaussian sigma = S x the box's longest side / 8 "
        "(default 1.0: faces and clothing become unrecognisable, a blurred silhouette remains; "
        "2 is twice as strong)",
    )
    how.add_argument("--method", choices=METHODS, default="gaussian",
                     help="gaussian blur (default), pixelate (mosaic of 2 x sigma cells) or fill (black)")
    how.add_argument("--shape", choices=SHAPES, default="rectangle",
                     help="hide the whole box (default) or the ellipse inscribed in it")
    how.add_argument("--jpeg-mode", choices=("lossless", "reencode"), default="lossless",
                     help="lossless (default): rewrite only the JPEG blocks a blurred region touches, so the rest "
                     "of the photograph keeps its exact image data (the blurred area rounds out to whole 8 or "
                     "16 px blocks; files that cannot be edited so, or where re-encoding is faster, are "
                     "re-encoded: the report's encoding column says which); reencode: decode and "
                     "re-encode the whole photograph with its own quantisation tables and subsampling")
    run = parser.add_argument_group("how the run goes")
    run.add_argument("--copy-unlisted", action="store_true",
                     help="copy images the results do not mention (default: withhold them, nobody checked them)")
    run.add_argument("--link", action="store_true",
                     help="hard-link images with nothing to blur instead of copying them (saves disk space; "
                     "do not edit those output files in place: the originals would change too)")
    run.add_argument("--overwrite", action="store_true",
                     help="redo every image, even those an earlier run finished")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="images processed in parallel (default: number of CPU cores)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar, only the summary")
    run.add_argument("-v", "--verbose", action="store_true", help="log each step")


class CommandLineError(TrapblurError):
    """A problem with how an option was typed; its message is already in the command line's words."""


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the images are processed: this machine (default) or a Dask cluster (trapblur[distributed])."""
    where = parser.add_argument_group(
        "on a cluster (Dask; pip install \"trapblur[distributed]\"; folders on storage every worker sees)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS_OR_FILE",
                       help="run on an existing Dask cluster: its scheduler's address (tcp://10.0.0.5:8786) or the "
                       "file `dask scheduler --scheduler-file` wrote")
    where.add_argument("--cluster", default=None, choices=("local", "slurm", "pbs", "sge", "lsf"),
                       help="start one: local worker processes on this machine, or Dask workers as batch jobs")
    where.add_argument("--jobs", type=int, default=1, metavar="N", help="batch jobs to keep running (default 1)")
    where.add_argument("--cores", type=int, default=None, metavar="N",
                       help="cores per job (threads per worker process for --cluster local, default 1)")
    where.add_argument("--memory", default=None, metavar="SIZE", help="memory per job, e.g. 32GB")
    where.add_argument("--walltime", default=None, metavar="HH:MM:SS",
                       help="time limit per job; workers retire 5 minutes before it and new jobs take over")
    where.add_argument("--gpus", type=int, default=0, metavar="N",
                       help="GPUs per job, one worker process each; detection tasks run on them")
    where.add_argument("--processes", type=int, default=None, metavar="N",
                       help="worker processes per job (--cluster local: in all; default one per core)")
    where.add_argument("--queue", default=None, metavar="NAME", help="batch queue / partition")
    where.add_argument("--account", default=None, metavar="NAME", help="batch account / project to charge")
    where.add_argument("--task-images", type=int, default=None, metavar="N",
                       help="at most N images per task (default 256; a task also stops at 256 MiB of images and at "
                       "the end of a folder, small folders being packed together)")
    where.add_argument("--worker-timeout", type=float, default=600.0, metavar="S",
                       help="give up when the cluster has had no worker for S seconds (default 600)")
    where.add_argument("--job-script", action="store_true",
                       help="print the batch job script --cluster would submit, and exit without running")


@contextmanager
def cluster_from_args(args: argparse.Namespace) -> Iterator[Any]:
    """The :class:`trapblur.cluster.Cluster` the options ask for (None: run here), closed afterwards."""
    from ..cluster import ClusterOptions, TaskSize, open_cluster

    _quiet_dask(args)
    size = TaskSize(images=args.task_images) if args.task_images is not None else TaskSize()
    options = ClusterOptions(
        scheduler=args.scheduler, cluster=args.cluster, jobs=args.jobs, cores=args.cores, memory=args.memory,
        walltime=args.walltime, gpus=args.gpus, processes=args.processes, queue=args.queue, account=args.account,
        worker_timeout=args.worker_timeout, task_size=size,
    )
    if options.scheduler is None and options.cluster is None:
        if args.task_images is not None:
            raise CommandLineError("--task-images needs --scheduler or --cluster")
        yield None
        return
    with open_cluster(options) as cluster:
        yield cluster


def _quiet_dask(args: argparse.Namespace) -> None:
    """Dask's scheduler and client log every start and stop at INFO: keep that for --verbose."""
    if getattr(args, "verbose", False):
        return
    try:
        import distributed  # noqa: F401 - it sets its loggers' levels when imported
    except ImportError:
        return  # the cluster options then say how to install it
    for name in list(logging.root.manager.loggerDict):
        if name == "distributed" or name.startswith(("distributed.", "dask_jobqueue")):
            logging.getLogger(name).setLevel(logging.WARNING)


def print_job_script(args: argparse.Namespace) -> int:
    """``--job-script``: the batch script dask-jobqueue would submit for these options."""
    from ..cluster import ClusterOptions
    from ..cluster.connect import BATCH_SYSTEMS, jobqueue_cluster

    _quiet_dask(args)
    if args.cluster not in BATCH_SYSTEMS:
        raise CommandLineError(f"--job-script needs --cluster {'|'.join(BATCH_SYSTEMS)}")
    options = ClusterOptions(cluster=args.cluster, jobs=args.jobs, cores=args.cores, memory=args.memory,
                             walltime=args.walltime, gpus=args.gpus, processes=args.processes, queue=args.queue,
                             account=args.account)
    batch = jobqueue_cluster(options)
    try:
        print(batch.job_script(), end="")
    finally:
        batch.close()
    return EXIT_OK


def parse_threshold(text: str) -> float | dict[str, float]:
    """``0.1`` or ``person=0.05,vehicle=0.2``; a category given twice is refused (a dict keeps the last)."""
    try:
        if "=" not in text:
            return float(text)
        thresholds: dict[str, float] = {}
        for item in (item for item in text.split(",") if item.strip()):
            name, value = item.split("=", 1)
            name = name.strip()
            if name in thresholds and thresholds[name] != float(value):
                raise OptionsError(f"two thresholds are given for {name} ({thresholds[name]:g} and {float(value):g}); "
                                   "give one", argument="threshold")
            thresholds[name] = float(value)
        return thresholds
    except ValueError as exc:
        if isinstance(exc, OptionsError):
            raise
        raise CommandLineError(
            f"--threshold: expected a number like 0.1 or person=0.05,vehicle=0.2, got {text!r}") from None


def blur_keywords(args: argparse.Namespace) -> dict:
    """Keyword arguments for the public API from the shared blur options."""
    threshold = parse_threshold(args.threshold)
    categories = [c.strip() for c in args.categories.split(",") if c.strip()]
    if isinstance(threshold, dict):
        categories = list(dict.fromkeys([*categories, *threshold]))
    return dict(
        threshold=threshold, categories=categories, padding=args.padding, strength=args.strength,
        method=args.method, shape=args.shape, copy_unlisted=args.copy_unlisted,
        link_unchanged=args.link, overwrite=args.overwrite, workers=args.workers, jpeg_mode=args.jpeg_mode,
        corrections=args.corrections,
    )


def progress_bar(quiet: bool, description: str, status: Callable[[], str] | None = None
                 ) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A progress callback drawing a bar on stderr (when it is a terminal), and a function to close it.
    ``status()`` (a cluster's ``tasks 12/40, 2 workers``) is shown after the bar."""
    bar: list[tqdm] = []

    def update(done: int, total: int) -> None:
        if quiet:
            return
        if not bar:
            bar.append(tqdm(total=total, desc=description, unit="img", file=sys.stderr, disable=None))
        bar[0].n = done
        if done == total or done % 16 == 0:
            if status is not None:
                bar[0].set_postfix_str(status(), refresh=False)
            bar[0].refresh()

    def close() -> None:
        if bar:
            bar[0].close()

    return update, close


def finish(report: RunReport, cluster: Any = None) -> int:
    print(for_cli(report.summary()), end="")
    if cluster is not None:
        print(cluster.summary(), end="")
    return EXIT_OK if report.ok else EXIT_INCOMPLETE


# The library names settings as Python keyword arguments (see trapblur.errors); the command line's users
# need its flags. One rule re-spells them all: ``overwrite=True`` -> ``--overwrite``, ``resume=False`` ->
# ``--no-resume``, ``model=PATH`` -> ``--model PATH``, ``trapblur.fetch_model('md-v5a')`` ->
# ``trapblur models fetch md-v5a``. Flags whose name is not the keyword's are listed here.
FLAG_NAMES = {"link_unchanged": "link", "destination": "to"}
SETTING = re.compile(
    r"(?<![\w.\-/=])([a-z][a-z0-9_]*)=(True|False|None|'[^']*'|\"[^\"]*\"|-?\d+(?:\.\d+)?|[A-Z][A-Z_]*)(?![\w=])"
)
CALL = re.compile(r"trapblur\.(fetch_model|list_models)\(([^()]*)\)")


def cli_flag(name: str, value: str) -> str:
    """The command-line spelling of the keyword argument ``name`` set to the Python literal ``value``."""
    flag = FLAG_NAMES.get(name, name).replace("_", "-")
    if value == "True":
        return f"--{flag}"
    if value == "False":
        return f"--no-{flag}"
    plain = value.strip("'\"")
    return f"--{flag} {plain}"


def for_cli(text: str) -> str:
    """``text`` (a message or report reason from the library) with settings spelled as this CLI's flags."""
    def call(match: re.Match[str]) -> str:
        argument = match.group(2).strip().strip("'\"")
        return f"trapblur models fetch {argument}" if match.group(1) == "fetch_model" else "trapblur models"

    text = CALL.sub(call, text)
    return SETTING.sub(lambda m: cli_flag(m.group(1), m.group(2)), text)
