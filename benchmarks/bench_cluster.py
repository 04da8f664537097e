"""What running on Dask costs: the same 2,000 images through local threads, a 2-process LocalCluster and a
TCP cluster (``dask scheduler`` + 2 ``dask worker`` processes on 127.0.0.1); and the scheduler's cost per
task. Figures, not a test.

    python benchmarks/bench_cluster.py [--images 2000] [--rounds 3] [--task-images 256]

Each round runs the three set-ups one after the other (alternating, so a noisy neighbour on this shared
machine hurts each about equally), each into a fresh output folder, and every output is checked to be
byte-identical to the local one. Printed per set-up, as medians over rounds: wall seconds, CPU seconds
of every process involved (driver, scheduler, workers: read from /proc), and the per-image overhead
against local threads. Then ``--tasks`` no-op tasks are sent through the TCP scheduler to measure its CPU
and wall time per task, and the arithmetic for 5,000,000 images is printed.

The dataset: 1024 x 768 camera-like JPEGs, a third with a person to blur (the rest are copied), in folders
of 100 (as camera cards are), cut into tasks by the default rule (a folder per task, at most 256 images).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_blur import camera_like  # noqa: E402

import trapblur  # noqa: E402
from trapblur.cluster import Cluster, TaskSize  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
DASK = Path(sys.executable).parent / "dask"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, and of its finished children it waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / TICKS


def system_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[12]) + int(fields[14])) / TICKS


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def own_system() -> float:
    return os.times().system


def make_images(root: Path, count: int) -> tuple[Path, Path]:
    from conftest import person, write_md

    distinct = [camera_like(1024, 768, seed) for seed in range(8)]
    entries = []
    for index in range(count):
        name = f"card{index // 100:03d}/IMG_{index:05d}.JPG"
        (root / "cameras" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "cameras" / name).write_bytes(distinct[index % len(distinct)])
        boxes = [person([0.2, 0.3, 0.2, 0.5], 0.9)] if index % 3 == 0 else []
        entries.append({"file": name, "detections": boxes})
    return root / "cameras", write_md(root / "md.json", entries)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".trapblur" not in p.parts}


class TcpCluster:
    def __init__(self, folder: Path, workers: int = 2) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
        self.scheduler = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                           "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          env=env, cwd=folder)
        self.workers = [subprocess.Popen([str(DASK), "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
                                          "--no-dashboard", "--local-directory", str(folder / f"w{i}")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=folder)
                        for i in range(workers)]

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            process.terminate()
        for process in [*self.workers, self.scheduler]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def worker_pids(client) -> list[int]:
    return list(client.run(os.getpid).values())


def timed(run, pids: list[int]) -> tuple[float, float, float]:
    """Wall, CPU and system-CPU seconds (this process + ``pids``) of ``run()``."""
    before = own_cpu() + sum(cpu_seconds(p) for p in pids)
    before_system = own_system() + sum(system_seconds(p) for p in pids)
    started = time.perf_counter()
    run()
    wall = time.perf_counter() - started
    return (wall, own_cpu() + sum(cpu_seconds(p) for p in pids) - before,
            own_system() + sum(system_seconds(p) for p in pids) - before_system)


def noop(index: int) -> int:
    return index


def scheduler_cost(client, scheduler_pid: int, tasks: int) -> tuple[float, float]:
    """Scheduler CPU ms and end-to-end wall ms per task, for ``tasks`` no-op tasks submitted at once."""
    from distributed import wait

    wait(client.map(noop, range(200), pure=False))  # warm up
    before = cpu_seconds(scheduler_pid)
    started = time.perf_counter()
    futures = client.map(noop, range(tasks), pure=False)
    wait(futures, timeout=600)
    wall = time.perf_counter() - started
    cpu = cpu_seconds(scheduler_pid) - before
    del futures
    return 1000 * cpu / tasks, 1000 * wall / tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--task-images", type=int, default=256)
    parser.add_argument("--tasks", type=int, default=5000, help="no-op tasks for the scheduler's cost")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    work = Path(tempfile.mkdtemp(prefix="trapblur-bench-cluster-"))
    try:
        images, md = make_images(work, args.images)
        size = TaskSize(images=args.task_images)
        local_cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
        local_client = Client(local_cluster)
        tcp = TcpCluster(work, workers=2)
        tcp_client = Client(tcp.address, timeout=60)
        tcp_client.wait_for_workers(2, timeout=120)
        setups = {
            "local threads (2)": (None, []),
            "LocalCluster, 2 processes": (Cluster(local_client, task_size=size), worker_pids(local_client)),
            "TCP: dask scheduler + 2 workers": (Cluster(tcp_client, task_size=size),
                                                [*worker_pids(tcp_client), tcp.scheduler.pid]),
        }
        figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in setups}
        tasks: dict[str, int] = {}
        reference = None
        for round_ in range(args.rounds):
            for index, (name, (cluster, pids)) in enumerate(setups.items()):
                out = work / f"out-{round_}-{index}"
                figures[name].append(timed(lambda: trapblur.blur_dataset(images, md, out, workers=2, client=cluster),
                                           pids))
                if cluster is not None:
                    tasks[name] = cluster.counts.tasks
                produced = tree(out)
                reference = reference or produced
                assert produced == reference, f"{name}: output differs from the local run's"
                shutil.rmtree(out)
        print(f"{args.images} images (1024 x 768, a third blurred), tasks of at most {args.task_images} images, "
              f"{args.rounds} rounds; medians; every output byte-identical to the local run's")
        base_wall = statistics.median(w for w, _, _ in figures["local threads (2)"])
        base_cpu = statistics.median(c for _, c, _ in figures["local threads (2)"])
        print(f"{'set-up':<34} {'wall s':>7} {'img/s':>7} {'CPU s':>7} {'of it sys':>9} {'wall +ms/img':>13} "
              f"{'CPU +ms/img':>12} {'tasks':>6}")
        for name, values in figures.items():
            wall = statistics.median(w for w, _, _ in values)
            cpu = statistics.median(c for _, c, _ in values)
            system = statistics.median(s for _, _, s in values)
            extra_wall = 1000 * (wall - base_wall) / args.images
            extra_cpu = 1000 * (cpu - base_cpu) / args.images
            print(f"{name:<34} {wall:>7.2f} {args.images / wall:>7.0f} {cpu:>7.2f} {system:>9.2f} {extra_wall:>+9.3f} "
                  f"({100 * (wall - base_wall) / base_wall:+.0f}%) {extra_cpu:>+8.3f} ({100 * (cpu - base_cpu) / base_cpu:+.0f}%)"
                  f" {tasks.get(name, '-')!s:>5}")
        per_task_cpu, per_task_wall = scheduler_cost(tcp_client, tcp.scheduler.pid, args.tasks)
        print(f"\nscheduler cost per task ({args.tasks} no-op tasks at once through the TCP scheduler): "
              f"{per_task_cpu:.3f} ms scheduler CPU, {per_task_wall:.3f} ms end to end (2 workers)")
        for images_total in (5_000_000,):
            n_tasks = math.ceil(images_total / 256)
            print(f"{images_total:,} images in tasks of 256: {n_tasks:,} tasks -> {n_tasks * per_task_cpu / 1000:.0f} s "
                  f"of scheduler CPU over the whole run ({n_tasks * per_task_wall / 1000:.0f} s end to end if they "
                  f"ran back to back with no work); one task per image would be "
                  f"{images_total * per_task_cpu / 1000 / 3600:.1f} h of scheduler CPU")
        tcp_client.close()
        tcp.stop()
        local_client.close()
        local_cluster.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
